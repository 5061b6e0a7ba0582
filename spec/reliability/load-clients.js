// The client side of load.spec.ts, in a process of its own so that each side's descriptors fit the
// open-file limit: opens `count` connections, sends one line on each, checks the answer, holds all
// of them open, then reports over IPC and closes them when told to.
const net = require('node:net');

const [port, count] = process.argv.slice(2).map(Number);
const sockets = [];
let resets = 0;
let answered = 0;

async function main() {
  for (let i = 0; i < count; i += 500) {
    const wave = [];
    for (let j = i; j < Math.min(count, i + 500); j++) {
      const socket = net.connect({ host: '127.0.0.1', port });
      sockets.push(socket);
      socket.on('error', () => resets++);
      wave.push(
        new Promise((resolve) => {
          socket.once('data', (d) => {
            if (d.toString() === `ok ${j}\n`) answered++;
            resolve();
          });
          socket.once('close', resolve);
        }),
      );
      socket.write(`${j}\n`);
    }
    await Promise.all(wave);
  }
  process.send({ answered, resets, open: sockets.filter((s) => !s.destroyed).length });
  process.once('message', async () => {
    const closed = sockets.map((s) => new Promise((resolve) => s.once('close', resolve)));
    for (const s of sockets) s.end();
    await Promise.all(closed);
    process.send({ closed: true, resets });
    process.disconnect();
  });
}

main();

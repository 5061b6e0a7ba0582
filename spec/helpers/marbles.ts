import { catchError, map, type Observable, of } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';

/** A TestScheduler that compares with Jest's deep equality. */
export const testScheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

/** 'done' when `source` completes, else the error's code or message: marbles can show which. */
export function outcome(source: Observable<void>): Observable<string> {
  return source.pipe(
    map(() => 'done'),
    catchError((error) => of(`${error.code ?? error.message}`)),
  );
}

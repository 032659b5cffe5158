/**
 * The one check for numeric options (durations, timeouts, limits): a RangeError that names the
 * option and the bad value, `Cannot use timeoutMs "-1": must be a positive number`. Pure.
 *
 * @module
 */

/** Returns `value` when it is a finite number above 0, else throws a RangeError naming `name`. */
export function checkPositive(name: string, value: number): number {
  return _check(name, value, false);
}

/** Returns `value` when it is a finite number of 0 or more, else throws a RangeError naming `name`. */
export function checkNonNegative(name: string, value: number): number {
  return _check(name, value, true);
}

function _check(name: string, value: number, zero: boolean): number {
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !zero)) {
    const kind = zero ? "a non-negative" : "a positive";
    throw new RangeError(`Cannot use ${name} "${value}": must be ${kind} number`);
  }
  return value;
}

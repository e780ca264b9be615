/**
 * The contract a state must meet to be synchronized by the State
 * Synchronization Protocol (docs/wire.md §6, §7): the `MyState` /
 * `RemoteState` template parameter of Mosh's transport.
 * @module
 */

/** A state synchronized by SSP (mosh's "MyState"/"RemoteState" template parameter). */
export interface SyncState<T> {
  /** Whether this state and `other` are the same state (mosh: operator==). */
  equals(other: T): boolean;
  /** Protobuf diff bytes that turn `old` into this state; empty when equal (mosh: diff_from). */
  diffFrom(old: T): Uint8Array;
  /**
   * A lower bound of `diffFrom(old).length`, much cheaper than the diff (a
   * prospective resend surely too long to be chosen is not computed); states
   * without it count as 0.
   */
  diffSizeAtLeast?(old: T): number;
  /** A NEW state: this one with `diff` applied (this unchanged); null if the diff is malformed (mosh: apply_string). */
  applyDiff(diff: Uint8Array): T | null;
  /** This state without the known prefix `prefix`; returns this when nothing is dropped (mosh: subtract). */
  subtract?(prefix: T): T;
  /**
   * Approximate bytes this state holds, counting what it may share with other
   * states as its own; lets the receiver bound the states it keeps by bytes
   * (states without it count as 0).
   */
  byteSize?(): number;
  /** An independent copy, for states that are mutable (mosh: copy constructor). */
  clone?(): T;
}

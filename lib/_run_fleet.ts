/**
 * The loop's fleet calls (`--fleet`): wait for a slot, give it back, report how a cycle ended.
 * Calls run one after the other, so a slot is given back before the next is asked for; each wait
 * can be cancelled by its wait id (the machine's `CancelFleetWait`).
 *
 * @module
 */
import type { CycleDone, MachineEvent, VersionRef } from "./machine.ts";
import type { FleetCoordinator } from "./fleet/coordinator.ts";

/** One host's fleet calls, in order. */
export class FleetCalls {
  readonly #fleet: FleetCoordinator;
  readonly #signal: AbortSignal;
  /** Aborts each pending fleet wait, by wait id (CancelFleetWait). */
  readonly #waits = new Map<number, AbortController>();
  /** The call before the next: a slot is given back before the next is asked for. */
  #queue: Promise<unknown> = Promise.resolve();

  /** @param signal the loop's stop signal: it ends every wait */
  constructor(fleet: FleetCoordinator, signal: AbortSignal) {
    this.#fleet = fleet;
    this.#signal = signal;
  }

  /** Waits for a fleet slot until granted, halted, uncoordinated or cancelled. */
  acquire(waitId: number, version: VersionRef): Promise<MachineEvent> {
    const controller = new AbortController();
    this.#waits.set(waitId, controller);
    const signal = AbortSignal.any([this.#signal, controller.signal]);
    return this.#call(async (): Promise<MachineEvent> => {
      try {
        const decision = await this.#fleet.gate(version, signal);
        switch (decision.kind) {
          case "go":
            return { type: "FleetSlotGranted", waitId, version, canary: decision.canary };
          case "halted":
            return { type: "FleetHalted", waitId, version, reason: decision.reason };
          case "uncoordinated":
            return { type: "FleetUncoordinated", waitId, version };
        }
      } catch (error) {
        if (signal.aborted) return { type: "FleetWaitEnded", waitId };
        throw error;
      } finally {
        this.#waits.delete(waitId);
      }
    });
  }

  /** Ends the wait `waitId`, if it is still pending. */
  cancel(waitId: number): void {
    this.#waits.get(waitId)?.abort();
  }

  /** Gives the slot for `version` back without an outcome. */
  release(version: VersionRef): Promise<void> {
    return this.#call(() => this.#fleet.release(version));
  }

  /**
   * Tells the fleet how this host's cycle ended (after the post command); null for a cycle that
   * did not go through the fleet.
   */
  cycleDone(done: CycleDone): Promise<void> | null {
    // Only a cycle that went through the fleet: never a dry run, never one that got no answer.
    if (done.cycle.fleet === undefined) return null;
    const failures = done.report?.failed.map((f) => `${f.namespec}: ${f.reason}`) ?? [];
    const detail = done.reason ?? (failures.join("; ") ||
      `${done.report?.restarted.length ?? 0} program(s) restarted`);
    return this.#call(() =>
      this.#fleet.finish(done.cycle.version, {
        outcome: done.outcome === "halted" ? "skipped" : done.outcome,
        ok: done.outcome === "success" || done.outcome === "halted",
        detail,
      })
    );
  }

  /** Fleet calls in order; a call's failure does not stop the next. */
  #call<T>(call: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(call);
    this.#queue = result.catch(() => {});
    return result;
  }
}

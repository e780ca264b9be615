/**
 * When predictions are shown and underlined (mosh: PredictionEngine's
 * srtt_trigger, flagging and glitch_trigger; src/frontend/terminaloverlay.cc
 * (PredictionEngine::cull)).
 * @module
 */

import {
  PREDICT_FLAG_TRIGGER_HIGH,
  PREDICT_FLAG_TRIGGER_LOW,
  PREDICT_GLITCH_FLAG_THRESHOLD,
  PREDICT_GLITCH_REPAIR_COUNT,
  PREDICT_GLITCH_REPAIR_MININTERVAL,
  PREDICT_GLITCH_THRESHOLD,
  PREDICT_SRTT_TRIGGER_HIGH,
  PREDICT_SRTT_TRIGGER_LOW,
} from "./constants.ts";

/** The display triggers, with mosh's hysteresis. */
export class DisplayTriggers {
  /** Show predictions because the link is slow (mosh: srtt_trigger). */
  srtt = false;
  /** Underline predictions (mosh: flagging). */
  flagging = false;
  /** Show predictions because one was long pending (mosh: glitch_trigger). */
  glitch = 0;
  #lastQuickConfirmation = -Infinity;

  /** Re-evaluate from the send interval, ms; `active`: predictions exist (mosh: cull). */
  update(sendInterval: number, active: boolean): void {
    if (sendInterval > PREDICT_SRTT_TRIGGER_HIGH) this.srtt = true;
    else if (this.srtt && sendInterval <= PREDICT_SRTT_TRIGGER_LOW && !active) {
      this.srtt = false;
    }
    if (sendInterval > PREDICT_FLAG_TRIGGER_HIGH) this.flagging = true;
    else if (sendInterval <= PREDICT_FLAG_TRIGGER_LOW) this.flagging = false;
    if (this.glitch > PREDICT_GLITCH_REPAIR_COUNT) this.flagging = true;
  }

  /** A prediction has been pending for `age` ms. */
  pending(age: number): void {
    if (age >= PREDICT_GLITCH_FLAG_THRESHOLD) {
      this.glitch = PREDICT_GLITCH_REPAIR_COUNT * 2;
    } else if (
      age >= PREDICT_GLITCH_THRESHOLD &&
      this.glitch < PREDICT_GLITCH_REPAIR_COUNT
    ) {
      this.glitch = PREDICT_GLITCH_REPAIR_COUNT;
    }
  }

  /** A prediction made `age` ms ago was confirmed at `now`: maybe repair a glitch. */
  confirmed(age: number, now: number): void {
    if (
      age < PREDICT_GLITCH_THRESHOLD && this.glitch > 0 &&
      now - PREDICT_GLITCH_REPAIR_MININTERVAL >= this.#lastQuickConfirmation
    ) {
      this.glitch--;
      this.#lastQuickConfirmation = now;
    }
  }

  /** Whether timing triggers could still fire (mosh: timing_tests_necessary). */
  get timingTestsNecessary(): boolean {
    return !(this.glitch > 0 && this.flagging);
  }
}

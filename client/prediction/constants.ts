/**
 * Local-echo prediction constants, each with its unit and Mosh 1.4's name
 * (mosh: src/frontend/terminaloverlay.h, PredictionEngine).
 * @module
 */

/** Predictions stop being shown at or below this send interval when none are active, ms (mosh: SRTT_TRIGGER_LOW). */
export const PREDICT_SRTT_TRIGGER_LOW = 20;

/** Predictions are shown above this send interval, ms (mosh: SRTT_TRIGGER_HIGH). */
export const PREDICT_SRTT_TRIGGER_HIGH = 30;

/** Predictions stop being underlined at or below this send interval, ms (mosh: FLAG_TRIGGER_LOW). */
export const PREDICT_FLAG_TRIGGER_LOW = 50;

/** Predictions are underlined above this send interval, ms (mosh: FLAG_TRIGGER_HIGH). */
export const PREDICT_FLAG_TRIGGER_HIGH = 80;

/** A prediction pending this long is a glitch and turns display on, ms (mosh: GLITCH_THRESHOLD). */
export const PREDICT_GLITCH_THRESHOLD = 250;

/** Quick confirmations needed to cure the glitch trigger (mosh: GLITCH_REPAIR_COUNT). */
export const PREDICT_GLITCH_REPAIR_COUNT = 10;

/** Least time between two glitch repairs, ms (mosh: GLITCH_REPAIR_MININTERVAL). */
export const PREDICT_GLITCH_REPAIR_MININTERVAL = 150;

/** A prediction pending this long also turns underlining on, ms (mosh: GLITCH_FLAG_THRESHOLD). */
export const PREDICT_GLITCH_FLAG_THRESHOLD = 5000;

/** Redraw period while timing triggers are pending, ms (mosh: PredictionEngine::wait_time). */
export const PREDICT_TIMING_WAIT = 50;

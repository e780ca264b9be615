/**
 * Server constants, each with its unit and Mosh 1.4's name
 * (mosh: src/frontend/mosh-server.cc).
 * @module
 */

/** Server gives up when no client has spoken this long after start, ms (mosh: serve, 60000). */
export const SERVER_FIRST_CONTACT_TIMEOUT = 60000;

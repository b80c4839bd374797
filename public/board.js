// The presence board: sign in with a token, keep a roster of people, watch them live over one
// socket, and set your own presence. Plain DOM; user text only ever goes in through textContent.
import { ApiError, devTokensAvailable, fetchDevToken, Me } from "./api.js";
import { GUID } from "./guid.js";
import { PresenceWatch } from "./watch.js";
import { dotKind, dotSvg, stateInWords, timeAgo, workLocationInWords } from "./words.js";

/** As many users as one watch socket may hold. */
const MAX_PEOPLE = 650;
const TOKEN_KEY = "presence-board:token";
/** Set when the token came from the dev token endpoint, which can mint the next one. */
const DEV_TOKEN_KEY = "presence-board:dev-token";
/** A watch socket lives no longer than its token (D27): a new token is sent this long before. */
const RENEW_BEFORE_MS = 2 * 60_000;
const ONLINE_KEY = "presence-board:online";
/** The page's own presence session lasts 5 minutes and is refreshed well before it fades. */
const ONLINE_REFRESH_MS = 4 * 60_000;

const $ = (id) => document.getElementById(id);

/** @type {Me | null} */
let me = null;
/** @type {PresenceWatch | null} */
let watch = null;
/** id -> { name, li, presence, changedAt } in roster order; the signed-in user first. */
const people = new Map();
let onlineTimer = null;
let renewTimer = null;
/** The "Your presence" forms the user has edited and not yet sent: these keep what was typed. */
const editing = new Set();

// ---- signing in -------------------------------------------------------------------------------

async function signIn(token, { fromDevEndpoint = false } = {}) {
  const candidate = new Me(token);
  if (!candidate.claims.oid) {
    throw new Error("This board needs a delegated token: one that names a user ('oid'), not an application token.");
  }
  await candidate.presence(); // the service checks the token
  me = candidate;
  sessionStorage.setItem(TOKEN_KEY, token);
  if (fromDevEndpoint) sessionStorage.setItem(DEV_TOKEN_KEY, "true");
  showBoard();
  planRenewal();
}

/**
 * Before the token runs out, a dev token is replaced by a fresh one for the same user, and the
 * watch socket reauthorizes with it, so the board never stops. A pasted token cannot be
 * renewed here: when it runs out the service closes the socket and the board asks to sign in.
 */
function planRenewal() {
  clearTimeout(renewTimer);
  const exp = Number(me?.claims.exp) * 1000;
  if (!Number.isFinite(exp) || sessionStorage.getItem(DEV_TOKEN_KEY) !== "true") return;
  renewTimer = setTimeout(renewToken, Math.max(0, exp - RENEW_BEFORE_MS - Date.now()));
}

async function renewToken() {
  if (!me) return;
  try {
    const fresh = new Me(await fetchDevToken(me.claims.oid));
    me = fresh;
    sessionStorage.setItem(TOKEN_KEY, fresh.token);
    watch?.reauthorize(fresh.token);
    planRenewal();
  } catch (error) {
    $("watch-problem").textContent = `Could not renew the token: ${problemText(error)}`;
  }
}

function signOut(problem = "") {
  clearTimeout(renewTimer);
  sessionStorage.removeItem(DEV_TOKEN_KEY);
  setOnline(false, { remember: false });
  watch?.stop();
  watch = null;
  me = null;
  sessionStorage.removeItem(TOKEN_KEY);
  for (const { li } of people.values()) li.remove();
  people.clear();
  showRosterHint();
  $("board").hidden = true;
  $("account").hidden = true;
  $("connection").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-problem").textContent = problem;
  $("token").focus();
}

const refused = (error) => error instanceof ApiError && error.status === 401;

/** A token the service no longer takes (it expired) ends the session: sign in again. */
function signOutIfRefused(error) {
  if (!refused(error)) return false;
  signOut(`Signed out: ${error.message} Sign in again.`);
  return true;
}

function problemText(error) {
  if (refused(error)) return `The service refused the token: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

$("token-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = $("token")
    .value.trim()
    .replace(/^Bearer\s+/i, "");
  $("sign-in-problem").textContent = "";
  if (!token) {
    $("sign-in-problem").textContent = "Paste a token first.";
    return;
  }
  try {
    await signIn(token);
  } catch (error) {
    $("sign-in-problem").textContent = problemText(error);
  }
});

$("dev-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const userId = $("dev-user").value.trim();
  $("sign-in-problem").textContent = "";
  if (userId && !GUID.test(userId)) {
    $("sign-in-problem").textContent = "A user id is a GUID, like 00000000-0000-4000-8000-0000000000a1.";
    return;
  }
  try {
    await signIn(await fetchDevToken(userId), { fromDevEndpoint: true });
  } catch (error) {
    $("sign-in-problem").textContent = problemText(error);
  }
});

$("sign-out").addEventListener("click", async () => {
  // Signing out ends the page's own presence session too (it would lapse in 5 minutes anyway).
  if ($("online").checked) await me?.action("clearPresence", onlineSession()).catch(() => {});
  signOut();
});

// ---- the roster -------------------------------------------------------------------------------

const rosterKey = () => `presence-board:people:${me.claims.tid}`;

function savedPeople() {
  try {
    const saved = JSON.parse(localStorage.getItem(rosterKey()) ?? "[]");
    return Array.isArray(saved) ? saved.filter((p) => typeof p?.id === "string" && GUID.test(p.id)) : [];
  } catch {
    return [];
  }
}

function savePeople() {
  const list = [...people].filter(([id]) => id !== me.claims.oid).map(([id, { name }]) => ({ id, name }));
  localStorage.setItem(rosterKey(), JSON.stringify(list));
}

function addPerson(id, name) {
  const li = $("person-template").content.firstElementChild.cloneNode(true);
  li.dataset.userId = id;
  const self = id === me.claims.oid;
  li.querySelector(".name").textContent = self ? "You" : name || id;
  // The id is the heading of someone without a name; otherwise it goes underneath.
  li.querySelector(".id").textContent = self || name ? id : "";
  const remove = li.querySelector(".remove");
  if (self) remove.remove();
  else {
    remove.setAttribute("aria-label", `Remove ${name || id}`);
    remove.addEventListener("click", () => removePerson(id));
  }
  $("roster").append(li);
  people.set(id, { name, li, presence: null, changedAt: null });
  renderPerson(id);
  showRosterHint();
}

/** A board with only "You" on it says how to add someone. */
function showRosterHint() {
  $("roster-hint").hidden = people.size !== 1;
}

function removePerson(id) {
  people.get(id)?.li.remove();
  people.delete(id);
  showRosterHint();
  savePeople();
  watch?.watch([...people.keys()]);
  $("add-id").focus();
}

$("add-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const id = $("add-id").value.trim().toLowerCase();
  const name = $("add-name").value.trim();
  const problem = $("add-problem");
  problem.textContent = "";
  if (!GUID.test(id)) problem.textContent = "A user id is a GUID, like 00000000-0000-4000-8000-0000000000b2.";
  else if (people.has(id)) problem.textContent = "That person is on the board already.";
  else if (people.size >= MAX_PEOPLE) problem.textContent = `The board shows at most ${MAX_PEOPLE} people.`;
  if (problem.textContent) {
    $("add-id").setAttribute("aria-invalid", "true");
    $("add-id").focus();
    return;
  }
  $("add-id").removeAttribute("aria-invalid");
  addPerson(id, name);
  savePeople();
  watch?.watch([...people.keys()]);
  event.target.reset();
  $("add-id").focus();
});

/** Fills in a person's card from what the service last sent ("Waiting for presence…" before that). */
function renderPerson(id) {
  const person = people.get(id);
  if (!person) return;
  const { li, presence } = person;
  const kind = presence ? dotKind(presence) : "unknown";
  const dot = li.querySelector(".dot");
  dot.className = `dot dot-${kind}`;
  dot.innerHTML = dotSvg(kind);
  li.querySelector(".state").textContent = presence ? stateInWords(presence) : "Waiting for presence…";

  const message = li.querySelector(".message");
  const content = presence?.statusMessage?.message?.content ?? "";
  message.hidden = content === "";
  message.replaceChildren();
  if (content) {
    const quote = document.createElement("q");
    quote.textContent = content;
    message.append(quote);
    // Only the owner is sent the expiry (in UTC).
    const expiry = presence.statusMessage.expiryDateTime;
    if (expiry?.dateTime) {
      const until = document.createElement("span");
      until.className = "until";
      until.textContent = ` until ${whenInWords(new Date(`${expiry.dateTime.slice(0, 19)}Z`))}`;
      message.append(until);
    }
  }

  const location = li.querySelector(".location");
  location.textContent = workLocationInWords(presence?.workLocation);
  location.hidden = location.textContent === "";
  const oof = li.querySelector(".oof");
  const ooo = presence?.outOfOfficeSettings;
  oof.hidden = !ooo?.isOutOfOffice;
  oof.textContent = ooo?.isOutOfOffice ? `Out of office${ooo.message ? `: ${ooo.message}` : ""}` : "";
  li.querySelector(".details").hidden = location.hidden && oof.hidden;

  renderChanged(person);
}

/** "3:05 PM" today, "Fri 3:05 PM" within a week, a date further out. */
function whenInWords(date) {
  const time = { hour: "numeric", minute: "2-digit" };
  const days = (date.getTime() - Date.now()) / 86_400_000;
  if (date.toDateString() === new Date().toDateString()) return date.toLocaleTimeString(undefined, time);
  if (days < 6) return date.toLocaleString(undefined, { weekday: "short", ...time });
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function renderChanged({ li, presence, changedAt }) {
  const changed = li.querySelector(".changed");
  changed.replaceChildren();
  if (!presence) return;
  if (!changedAt) {
    changed.textContent = "No changes yet";
    return;
  }
  const time = document.createElement("time");
  time.dateTime = changedAt.toISOString();
  time.title = changedAt.toLocaleString();
  time.textContent = timeAgo(changedAt);
  changed.append("Changed ", time);
}

// "2 minutes ago" moves on by itself.
setInterval(() => {
  for (const person of people.values()) renderChanged(person);
}, 30_000);

function onPresence(presence, changedDateTime) {
  const person = people.get(presence.id);
  if (!person) return;
  const before = person.presence ? stateInWords(person.presence) : null;
  person.presence = presence;
  person.changedAt = changedDateTime ? new Date(changedDateTime) : null;
  renderPerson(presence.id);
  const now = stateInWords(presence);
  if (before !== null && before !== now) {
    $("announcer").textContent = `${person.li.querySelector(".name").textContent}: ${now}`;
  }
  if (presence.id === me?.claims.oid) showInForms(presence);
}

/** A select's option with this value, if it has one. */
const hasOption = (select, value) => [...select.options].some((option) => option.value === value);

/**
 * The "Your presence" forms show the user's presence as it is, also after a change made
 * elsewhere (another app, another tab), except a form being edited, which keeps its input.
 */
function showInForms(presence) {
  if (!editing.has("preferred-form")) {
    // The resource does not say whether a preference is set; the form shows the pair in effect.
    const pair = `${presence.availability}/${presence.activity}`;
    if (hasOption($("preferred"), pair)) $("preferred").value = pair;
  }
  if (!editing.has("status-form")) {
    const status = presence.statusMessage;
    $("status-text").value = status?.message?.content ?? "";
    const expiry = status?.expiryDateTime?.dateTime;
    // Only the owner is sent the expiry (in UTC); the field takes local time.
    const until = expiry ? new Date(`${expiry.slice(0, 19)}Z`) : null;
    $("status-expiry").value = until ? "custom" : "never";
    $("status-until").value = until ? localInputValue(until) : "";
    $("status-until-field").hidden = !until;
  }
  if (!editing.has("location-form")) {
    const type = presence.workLocation?.workLocationType;
    if (hasOption($("location"), type)) $("location").value = type;
  }
}

/** A date as a datetime-local input wants it: local time, to the minute. */
function localInputValue(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

for (const id of ["preferred-form", "status-form", "location-form"]) {
  $(id).addEventListener("input", () => editing.add(id));
  $(id).addEventListener("change", () => editing.add(id));
}

const CONNECTION_WORDS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", stopped: "Stopped" };

function showBoard() {
  $("sign-in").hidden = true;
  $("board").hidden = false;
  $("account").hidden = false;
  $("connection").hidden = false;
  $("account-id").textContent = me.claims.oid;
  $("watch-problem").textContent = "";
  editing.clear();
  addPerson(me.claims.oid, "");
  for (const { id, name } of savedPeople()) if (!people.has(id)) addPerson(id, name ?? "");
  watch = new PresenceWatch({
    token: me.token,
    onPresence,
    onState(state) {
      $("connection").dataset.state = state;
      $("connection-text").textContent = CONNECTION_WORDS[state];
    },
    onError(message) {
      $("watch-problem").textContent = message;
    },
    onExpired() {
      signOut("Your token has expired, so the live view stopped. Sign in again.");
    },
    async mayReconnect() {
      // A dropped socket may mean the token expired: ask the service before trying again.
      try {
        await me?.presence();
        return me !== null;
      } catch (error) {
        // Otherwise the service is unreachable for now: keep trying.
        return !signOutIfRefused(error);
      }
    },
  });
  watch.watch([...people.keys()]);
  watch.start();
  setOnline(localStorage.getItem(ONLINE_KEY) === "true", { remember: false });
  $("main").focus();
}

// ---- your own presence ------------------------------------------------------------------------

/** Runs a form's action, shows how it went in the form's status line, and keeps the form usable. */
async function attempt(form, what, run) {
  const outcome = form.querySelector(".outcome");
  const buttons = form.querySelectorAll("button");
  outcome.textContent = "";
  outcome.classList.remove("problem");
  for (const b of buttons) b.disabled = true;
  try {
    await run();
    // Sent: the form shows the presence again as the service reports it.
    editing.delete(form.id);
    outcome.textContent = what;
  } catch (error) {
    if (signOutIfRefused(error)) return;
    outcome.classList.add("problem");
    outcome.textContent = problemText(error);
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

function onSubmitAndClear(id, submit, clear) {
  const form = $(id);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(form);
  });
  form.querySelector("[data-clear]").addEventListener("click", () => clear(form));
}

onSubmitAndClear(
  "preferred-form",
  (form) =>
    attempt(form, "Saved.", () => {
      const [availability, activity] = $("preferred").value.split("/");
      const body = { availability, activity };
      if ($("preferred-for").value) body.expirationDuration = $("preferred-for").value;
      return me.action("setUserPreferredPresence", body);
    }),
  (form) => attempt(form, "Reset.", () => me.action("clearUserPreferredPresence")),
);

/** When a status message chosen as "clear after ..." should go; null for never. */
function statusExpiry() {
  const choice = $("status-expiry").value;
  const at = new Date();
  if (choice === "never") return null;
  if (choice === "PT1H") return new Date(at.getTime() + 3600_000);
  if (choice === "PT4H") return new Date(at.getTime() + 4 * 3600_000);
  if (choice === "today") {
    at.setHours(24, 0, 0, 0);
    return at;
  }
  if (choice === "week") {
    // The start of next Monday, local time.
    at.setHours(24 * ((8 - at.getDay()) % 7 || 7), 0, 0, 0);
    return at;
  }
  const custom = new Date($("status-until").value);
  if (Number.isNaN(custom.getTime())) throw new Error("Choose the date and time to clear the message.");
  if (custom.getTime() <= Date.now()) throw new Error("Choose a date and time in the future.");
  return custom;
}

$("status-expiry").addEventListener("change", () => {
  $("status-until-field").hidden = $("status-expiry").value !== "custom";
});

onSubmitAndClear(
  "status-form",
  (form) =>
    attempt(form, "Saved.", () => {
      const content = $("status-text").value.trim();
      if (!content) throw new Error("Write a message first, or use Clear.");
      const expiry = statusExpiry();
      const statusMessage = { message: { content, contentType: "text" } };
      if (expiry) statusMessage.expiryDateTime = { dateTime: expiry.toISOString().slice(0, 19), timeZone: "UTC" };
      return me.action("setStatusMessage", { statusMessage });
    }),
  (form) =>
    attempt(form, "Cleared.", async () => {
      await me.action("setStatusMessage", { statusMessage: null });
      $("status-text").value = "";
    }),
);

onSubmitAndClear(
  "location-form",
  (form) => attempt(form, "Saved.", () => me.action("setManualLocation", { workLocationType: $("location").value })),
  (form) => attempt(form, "Cleared.", () => me.action("clearLocation")),
);

/** An application has one session per user, named by its app id. */
const onlineSession = () => ({ sessionId: me.claims.appid ?? me.claims.azp });

/**
 * "Show me as online while this page is open": the page keeps a presence session of its own
 * (Available, 5 minutes, refreshed), which is also what lets a preferred presence show.
 */
async function setOnline(on, { remember = true } = {}) {
  $("online").checked = on;
  if (remember) localStorage.setItem(ONLINE_KEY, String(on));
  clearInterval(onlineTimer);
  onlineTimer = null;
  const problem = $("online-problem");
  problem.textContent = "";
  if (!me) return;
  const session = onlineSession();
  try {
    if (on) {
      const refresh = () =>
        me?.action("setPresence", {
          ...session,
          availability: "Available",
          activity: "Available",
          expirationDuration: "PT5M",
        });
      await refresh();
      onlineTimer = setInterval(() => refresh()?.catch(signOutIfRefused), ONLINE_REFRESH_MS);
    } else if (remember) {
      await me.action("clearPresence", session);
    }
  } catch (error) {
    // Nothing to clear is fine; anything else is worth saying.
    if (signOutIfRefused(error) || (error instanceof ApiError && error.status === 404)) return;
    problem.textContent = problemText(error);
  }
}

$("online").addEventListener("change", () => setOnline($("online").checked));

// ---- start ------------------------------------------------------------------------------------

async function start() {
  devTokensAvailable().then((available) => {
    $("dev-form").hidden = !available;
  });
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    try {
      await signIn(saved, { fromDevEndpoint: sessionStorage.getItem(DEV_TOKEN_KEY) === "true" });
      return;
    } catch {
      sessionStorage.removeItem(TOKEN_KEY);
    }
  }
  signOut();
}

start();

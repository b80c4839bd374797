// Presence in words and colours, as Teams users know them. Colour is never the only sign:
// every dot has a shape of its own and the state is always written out beside it.

const AVAILABILITY = {
  Available: "Available",
  AvailableIdle: "Available, idle",
  Away: "Away",
  BeRightBack: "Be right back",
  Busy: "Busy",
  BusyIdle: "Busy, idle",
  DoNotDisturb: "Do not disturb",
  Offline: "Offline",
  PresenceUnknown: "Unknown",
};

const ACTIVITY = {
  Available: "Available",
  Away: "Away",
  BeRightBack: "Be right back",
  Busy: "Busy",
  DoNotDisturb: "Do not disturb",
  InACall: "In a call",
  InAConferenceCall: "In a conference call",
  Inactive: "Inactive",
  InAMeeting: "In a meeting",
  Offline: "Offline",
  OffWork: "Off work",
  OutOfOffice: "Out of office",
  PresenceUnknown: "Unknown",
  Presenting: "Presenting",
  UrgentInterruptionsOnly: "Urgent interruptions only",
};

const WORK_LOCATION = { office: "In the office", remote: "Working remotely", timeOff: "Time off" };

/** The dot's kind, which picks its colour and shape (board.css, `dotSvg`). */
export function dotKind(presence) {
  if (presence.activity === "OutOfOffice") return "oof";
  switch (presence.availability) {
    case "Available":
      return "available";
    case "Busy":
    case "BusyIdle":
      return "busy";
    case "DoNotDisturb":
      return "dnd";
    case "Away":
    case "BeRightBack":
    case "AvailableIdle":
      return "away";
    case "Offline":
      return "offline";
    default:
      return "unknown";
  }
}

/** "Busy", or "Busy · In a call" when the activity says more than the availability. */
export function stateInWords(presence) {
  const availability = AVAILABILITY[presence.availability] ?? presence.availability;
  const activity = ACTIVITY[presence.activity] ?? presence.activity;
  return activity === availability ? availability : `${availability} · ${activity}`;
}

/** The work location in words, or "" when the user has not said. */
export function workLocationInWords(workLocation) {
  return WORK_LOCATION[workLocation?.workLocationType] ?? "";
}

const relative = new Intl.RelativeTimeFormat("en", { numeric: "always" });
const UNITS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

/** "just now", "2 minutes ago", "3 days ago". */
export function timeAgo(date, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (seconds < 60) return "just now";
  for (const [unit, size] of UNITS) {
    if (seconds >= size) return relative.format(-Math.floor(seconds / size), unit);
  }
  return "just now";
}

// 16×16 glyphs drawn in white (or grey, for the hollow offline ring) on the coloured dot.
const GLYPHS = {
  available:
    '<path d="M4.5 8.2l2.3 2.3 4.7-4.9" fill="none" stroke="#fff" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>',
  busy: "",
  dnd: '<rect x="4" y="7" width="8" height="2" rx="1" fill="#fff"/>',
  away: '<path d="M8 4.5V8.3l2.4 1.5" fill="none" stroke="#fff" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/>',
  oof: '<path d="M11.5 8H5m2.5-2.8L4.8 8l2.7 2.8" fill="none" stroke="#fff" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/>',
  offline:
    '<path d="M5.8 5.8l4.4 4.4m0-4.4l-4.4 4.4" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/>',
  unknown: "",
};

/** The dot as SVG markup (fixed strings only: no user data goes in here). */
export function dotSvg(kind) {
  const hollow = kind === "offline" || kind === "unknown";
  const circle = hollow
    ? '<circle cx="8" cy="8" r="6.6" fill="#fff" stroke="currentColor" stroke-width="2"/>'
    : '<circle cx="8" cy="8" r="7.5" fill="currentColor"/>';
  return `<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false">${circle}${GLYPHS[kind] ?? ""}</svg>`;
}

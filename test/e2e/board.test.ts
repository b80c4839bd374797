import { mkdir } from "node:fs/promises";
import type { Browser, Page, WebSocketRoute } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import DEV_IDENTITY from "../../src/dev/identity.json";
import { startLocalService } from "../compat/local-service";
import { launchChromium } from "./browser";

// Open the board, sign in with a dev token, add three people, and watch them change live.

const ARTIFACTS = "test-artifacts";
const PEOPLE = [
  { id: "a1b2c3d4-0000-4000-8000-000000000001", name: "Ada Lovelace" },
  { id: "a1b2c3d4-0000-4000-8000-000000000002", name: "Grace Hopper" },
  { id: "a1b2c3d4-0000-4000-8000-000000000003", name: "Alan Turing" },
] as const;
const [ADA, GRACE, ALAN] = PEOPLE;
const ME = DEV_IDENTITY.user;

let service: Awaited<ReturnType<typeof startLocalService>>;
let browser: Browser;
let page: Page;
let appToken: string;
/** Script errors and Content-Security-Policy violations in the page: there should be none. */
const pageProblems: string[] = [];
/** Errors in the browser's console (a failed request shows there in red), from the first load on. */
const consoleErrors: string[] = [];
/** The board's watch sockets as the test sees them, with what the page sent on each. */
const sockets: { route: WebSocketRoute; sent: string[] }[] = [];

beforeAll(async () => {
  service = await startLocalService({ DEV_MODE: "true" });
  appToken = await service.sign({
    tid: DEV_IDENTITY.tenant,
    appid: DEV_IDENTITY.app,
    roles: ["Presence.ReadWrite.All", "MailboxSettings.ReadWrite"],
  });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (error) => pageProblems.push(error.message));
  page.on("console", (message) => {
    if (/Content.Security.Policy/i.test(message.text())) pageProblems.push(message.text());
    if (message.type() === "error") consoleErrors.push(`${message.text()} (${message.location().url})`);
  });
  // The socket passes through the test, which can then see the subscribe messages and cut it.
  await page.routeWebSocket(/\/communications\/presences\/watch$/, (route) => {
    const server = route.connectToServer();
    const entry = { route, sent: [] as string[] };
    sockets.push(entry);
    route.onMessage((message) => {
      entry.sent.push(String(message));
      server.send(message);
    });
  });
});

afterAll(async () => {
  await browser?.close();
  await service?.stop();
});

async function api(method: string, path: string, body?: unknown) {
  const response = await fetch(`${service.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${appToken}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return method === "GET" ? response.json() : null;
}

const setPresence = (id: string, availability: string, activity: string) =>
  api("POST", `/v1.0/users/${id}/presence/setPresence`, {
    sessionId: DEV_IDENTITY.app,
    availability,
    activity,
    expirationDuration: "PT1H",
  });

const card = (id: string) => page.locator(`li[data-user-id="${id}"]`);
/** Waits (bounded by the locator's timeout, not asserting speed) until the card shows `text`. */
const cardShows = (id: string, selector: string, text: string) =>
  card(id).locator(selector, { hasText: text }).waitFor({ timeout: 15_000 });

describe("the presence board", () => {
  it("is served by the Worker at /, beside the API", async () => {
    const home = await fetch(`${service.url}/`);
    expect(home.status).toBe(200);
    expect(home.headers.get("content-type")).toMatch(/^text\/html/);
    expect(home.headers.get("content-security-policy")).toContain("default-src 'none'");
    // API paths always reach the Worker: an unknown one is Graph's 404, not a page.
    const unknown = await fetch(`${service.url}/v1.0/nothing-here`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe("NotFound");
  });

  it("never has the dev token endpoint in the deployed configuration", () => {
    // `npm run deploy` uploads wrangler.toml's vars (and secrets), never .dev.vars.
    expect(unstable_readConfig({ config: "wrangler.toml" }).vars).not.toHaveProperty("DEV_MODE");
  });

  it("signs in with a dev token, adds three people, and shows their changes without a reload", async () => {
    let loads = 0;
    page.on("load", () => {
      loads += 1;
    });
    await page.goto(service.url);
    await page.getByRole("button", { name: "Get a dev token" }).click();
    await page.locator("#connection[data-state=live]").waitFor();
    // Loading, asking whether dev tokens exist, signing in and going live logged no error.
    expect(consoleErrors).toEqual([]);
    // With only "You" on the board, the page says how to add someone.
    await page.locator("#roster-hint", { hasText: "Only you so far" }).waitFor();
    for (const { id, name } of PEOPLE) {
      await page.getByLabel("User id", { exact: true }).fill(id);
      await page.getByLabel("Name (optional)").fill(name);
      await page.getByRole("button", { name: "Add" }).click();
    }
    for (const { id, name } of PEOPLE) {
      await cardShows(id, ".name", name);
      await cardShows(id, ".state", "Offline");
    }
    expect(await card(ADA.id).locator(".dot").getAttribute("class")).toContain("dot-offline");
    expect(await page.locator("#roster-hint").isHidden()).toBe(true);

    // A change made by HTTP reaches the page over the socket: the dot and the words change.
    await setPresence(ADA.id, "Busy", "InACall");
    await cardShows(ADA.id, ".state", "Busy · In a call");
    expect(await card(ADA.id).locator(".dot").getAttribute("class")).toContain("dot-busy");
    await cardShows(ADA.id, ".changed", "Changed");
    await setPresence(GRACE.id, "Available", "Available");
    await cardShows(GRACE.id, ".state", "Available");
    expect(await card(GRACE.id).locator(".dot").getAttribute("class")).toContain("dot-available");
    expect(loads).toBe(1);
  });

  it("sets a status message through the page, read back by HTTP", async () => {
    const form = page.locator("#status-form");
    await form.getByLabel("Message").fill("Writing the presence board");
    await form.getByLabel("Clear after").selectOption("PT1H");
    await form.getByRole("button", { name: "Set", exact: true }).click();
    await form.getByRole("status").filter({ hasText: "Saved." }).waitFor();
    const presence = await api("GET", `/v1.0/users/${ME}/presence`);
    expect(presence.statusMessage).toEqual({
      message: { content: "Writing the presence board", contentType: "text" },
    });
    // The board shows it on the signed-in user's own card, with its expiry.
    await cardShows(ME, ".message", "Writing the presence board");
    await cardShows(ME, ".message .until", "until");
  });

  it("sets a preferred presence and a work location, which show while the page keeps the user online", async () => {
    await page.getByLabel("Show me as online while this page is open").check();
    await cardShows(ME, ".state", "Available");
    await page.getByLabel("Presence", { exact: true }).selectOption({ label: "Do not disturb" });
    await page.locator("#preferred-form").getByRole("button", { name: "Set", exact: true }).click();
    await cardShows(ME, ".state", "Do not disturb");
    await page.getByLabel("Location", { exact: true }).selectOption({ label: "Working remotely" });
    await page.locator("#location-form").getByRole("button", { name: "Set", exact: true }).click();
    await cardShows(ME, ".location", "Working remotely");
    const presence = await api("GET", `/v1.0/users/${ME}/presence`);
    expect(presence).toMatchObject({
      availability: "DoNotDisturb",
      workLocation: { workLocationType: "remote", source: "manual" },
    });
  });

  it("shows your current presence in its forms after a change made elsewhere, but keeps a form being edited", async () => {
    // Another app of the same user (or another tab) changes the presence, not this page.
    const token = await service.sign({
      tid: DEV_IDENTITY.tenant,
      oid: ME,
      appid: DEV_IDENTITY.app,
      scp: "Presence.Read Presence.ReadWrite",
    });
    const elsewhere = async (action: string, body: unknown) => {
      const response = await fetch(`${service.url}/v1.0/me/presence/${action}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(response.ok, await response.text()).toBe(true);
    };
    const value = (selector: string) => page.locator(selector).inputValue();
    await elsewhere("setStatusMessage", {
      statusMessage: {
        message: { content: "Set in another app", contentType: "text" },
        expiryDateTime: { dateTime: "2030-06-15T12:00:00", timeZone: "UTC" },
      },
    });
    await elsewhere("setUserPreferredPresence", { availability: "Busy", activity: "Busy" });
    await elsewhere("setManualLocation", { workLocationType: "office" });
    await cardShows(ME, ".location", "In the office");
    await cardShows(ME, ".state", "Busy");
    expect(await value("#status-text")).toBe("Set in another app");
    expect(await value("#status-expiry")).toBe("custom");
    expect(await value("#status-until")).toMatch(/^2030-06-15T\d\d:\d\d$/);
    expect(await value("#preferred")).toBe("Busy/Busy");
    expect(await value("#location")).toBe("office");

    // What the user is typing is not overwritten by a change that arrives meanwhile.
    await page.locator("#status-form").getByLabel("Message").fill("Half-written");
    await elsewhere("setStatusMessage", {
      statusMessage: { message: { content: "Changed again", contentType: "text" } },
    });
    await cardShows(ME, ".message", "Changed again");
    expect(await value("#status-text")).toBe("Half-written");
  });

  it("saves screenshots, wide and phone-width", async () => {
    // Out of office (automatic replies on): the activity reads OutOfOffice and the dot turns purple.
    await setPresence(ALAN.id, "Away", "Away");
    await api("PATCH", `/v1.0/users/${ALAN.id}/mailboxSettings`, {
      automaticRepliesSetting: { status: "alwaysEnabled", internalReplyMessage: "Back on Monday" },
    });
    await cardShows(ALAN.id, ".state", "Away · Out of office");
    await cardShows(ALAN.id, ".oof", "Out of office: Back on Monday");
    expect(await card(ALAN.id).locator(".dot").getAttribute("class")).toContain("dot-oof");
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}/board.png`, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    // Nothing is wider than the phone's screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${ARTIFACTS}/board-phone.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("reconnects after a drop and resumes: only what changed is sent again", async () => {
    const before = sockets.length;
    const dropped = sockets.at(-1);
    if (!dropped) throw new Error("the board opened no watch socket");
    await dropped.route.close({ code: 1012, reason: "test drop" });
    await page.locator("#connection[data-state=live]").waitFor();
    expect(sockets.length).toBeGreaterThan(before);
    // Changed while the page was away: arrives without a reload.
    await setPresence(ADA.id, "Away", "Away");
    await cardShows(ADA.id, ".state", "Away");
    const resumed = sockets.at(-1);
    const subscribe = JSON.parse(resumed?.sent.find((m) => m.startsWith("{")) ?? "{}");
    expect(subscribe.type).toBe("subscribe");
    expect([...subscribe.ids].sort()).toEqual([ME, ...PEOPLE.map((p) => p.id)].sort());
    expect(Object.keys(subscribe.since).sort()).toEqual([ME, ...PEOPLE.map((p) => p.id)].sort());
  });

  it("ran without a script error or a Content-Security-Policy violation", () => {
    expect(pageProblems).toEqual([]);
  });
});

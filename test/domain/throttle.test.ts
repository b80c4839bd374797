import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { admit, admitUpTo, type RequestKind, THROTTLE_WINDOW_MS, type ThrottleState } from "../../src/domain/throttle";

const W = THROTTLE_WINDOW_MS;

/** Runs requests of one kind at the given instants; true for each one admitted. */
function run(times: number[], limits: { reads: number; all: number }, kind: RequestKind = "read"): boolean[] {
  let state: ThrottleState = {};
  return times.map((now) => {
    const result = admit(state, kind, limits, now);
    state = result.state;
    return result.retryAt === null;
  });
}

/** Keeps the instants a client under the limit would send: never more than `limit` in any 30 s. */
function underLimit(times: number[], limit: number): number[] {
  const kept: number[] = [];
  for (const t of [...times].sort((a, b) => a - b)) {
    if (kept.filter((k) => k >= t - W).length < limit) kept.push(t);
  }
  return kept;
}

describe("throttle buckets (D20)", () => {
  it("admits exactly the limit in a burst, then names when one more fits", () => {
    let state: ThrottleState = {};
    for (let i = 0; i < 5; i++) {
      const result = admit(state, "read", { reads: 5, all: 100 }, 1_000);
      expect(result.retryAt).toBeNull();
      state = result.state;
    }
    expect(admit(state, "read", { reads: 5, all: 100 }, 1_000).retryAt).toBe(1_000 + W / 5);
    expect(admit(state, "read", { reads: 5, all: 100 }, 1_000 + W / 5).retryAt).toBeNull();
  });

  it("counts reads against both limits and other requests against the overall one only", () => {
    const limits = { reads: 2, all: 3 };
    let state: ThrottleState = {};
    const take = (kind: RequestKind) => {
      const result = admit(state, kind, limits, 0);
      state = result.state;
      return result.retryAt === null;
    };
    expect([take("read"), take("read"), take("read")]).toEqual([true, true, false]);
    // The refused read took nothing: one request fits overall, and a read is still refused.
    expect([take("other"), take("other"), take("read")]).toEqual([true, false, false]);
  });

  it("never refuses a client that stays under the limit in every 30 s", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        // Bursts one window (and a millisecond) apart are the tightest case a client under the limit can make.
        fc.array(
          fc.oneof(
            fc.integer({ min: 0, max: 5 * W }),
            fc.integer({ min: 0, max: 5 }).map((k) => k * (W + 1)),
          ),
          {
            maxLength: 200,
          },
        ),
        (limit, instants) => {
          const times = underLimit(instants, limit);
          expect(run(times, { reads: limit, all: limit * 2 }).every(Boolean)).toBe(true);
        },
      ),
    );
  });

  it("never admits more than the limit plus the refill of the span, however hard it is pushed", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 3 * W }), { minLength: 1, maxLength: 300 }),
        fc.constantFrom<RequestKind>("read", "other"),
        (limit, instants, kind) => {
          const times = [...instants].sort((a, b) => a - b);
          const admittedAt = run(times, { reads: limit, all: limit }, kind);
          const admitted = times.filter((_t, i) => admittedAt[i]);
          const first = times[0] ?? 0;
          admitted.forEach((t, i) => {
            expect(i + 1).toBeLessThanOrEqual(limit + Math.floor(((t - first) * limit) / W));
          });
        },
      ),
    );
  });

  it("grants what is asked while every bucket counted holds that much, then one at a time, then none", () => {
    const limits = { reads: 10, all: 100 };
    const first = admitUpTo({}, "read", limits, 0, 4);
    expect([first.granted, first.retryAt]).toEqual([4, null]);
    let state = first.state;
    const ones: number[] = [];
    for (let i = 0; i < 6; i++) {
      const next = admitUpTo(state, "read", limits, 0, 50);
      ones.push(next.granted);
      state = next.state;
    }
    expect(ones).toEqual([1, 1, 1, 1, 1, 1]);
    const refused = admitUpTo(state, "read", limits, 0, 5);
    expect([refused.granted, refused.retryAt]).toEqual([0, W / 10]);
    // The overall bucket gave 10 to the reads; other requests still find 90.
    expect(admitUpTo(refused.state, "other", limits, 0, 90).granted).toBe(90);
  });

  it("takes back the unspent rest of a grant before granting, into every bucket it came from, never above the limit", () => {
    const limits = { reads: 10, all: 100 };
    const taken = admitUpTo({}, "read", limits, 0, 8);
    expect(taken.granted).toBe(8);
    // 5 of the 8 went unspent: the reads hold 2 + 5, and 7 can be granted at once.
    const next = admitUpTo(taken.state, "read", limits, 0, 7, 5);
    expect([next.granted, next.retryAt]).toEqual([7, null]);
    // The overall bucket had them back too: 100 - 8 + 5 - 7 = 90 are left for other requests.
    expect(admitUpTo(next.state, "other", limits, 0, 90).granted).toBe(90);
    // A rest returned to a full bucket is not a bonus.
    const full = admitUpTo({}, "read", limits, 0, 1, 50);
    expect(admitUpTo(full.state, "read", limits, 0, 10).granted).toBe(1);
  });

  it("refills nothing when the clock steps back", () => {
    const first = admit({}, "other", { reads: 1, all: 1 }, 10_000);
    expect(admit(first.state, "other", { reads: 1, all: 1 }, 5_000).retryAt).toBe(5_000 + W);
  });
});

/** Nearest-rank percentile of `values` (ms), 0 < p <= 100. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

export const median = (values: readonly number[]) => percentile(values, 50);

export interface Throughput {
  requestsPerSecond: number;
  failures: number;
}

/** `concurrency` clients send requests back to back for `durationMs`; returns completed requests per second. */
export async function measureThroughput(
  durationMs: number,
  concurrency: number,
  request: (client: number, n: number) => Promise<Response>,
): Promise<Throughput> {
  let completed = 0;
  let failures = 0;
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, client) => {
      for (let n = 0; performance.now() < end; n++) {
        const response = await request(client, n);
        await response.arrayBuffer();
        if (response.ok) completed++;
        else failures++;
      }
    }),
  );
  return { requestsPerSecond: completed / ((performance.now() - start) / 1000), failures };
}

/**
 * The throughput of two request loops, measured in alternating windows
 * (baseline, service, baseline, ...) rather than one long run each: a shared
 * machine's speed drifts over seconds, and alternating lays that drift on both
 * sides alike, so their ratio holds still. Each side warms up first.
 */
export async function compareThroughput(
  options: { windows: number; windowMs: number; warmUpMs: number; concurrency: number },
  baseline: (client: number, n: number) => Promise<Response>,
  service: (client: number, n: number) => Promise<Response>,
): Promise<{ baseline: Throughput; service: Throughput }> {
  const { windows, windowMs, warmUpMs, concurrency } = options;
  await measureThroughput(warmUpMs, concurrency, baseline);
  await measureThroughput(warmUpMs, concurrency, service);
  const totals = { baseline: { rps: 0, failures: 0 }, service: { rps: 0, failures: 0 } };
  for (let w = 0; w < windows; w++) {
    for (const [side, request] of [
      ["baseline", baseline],
      ["service", service],
    ] as const) {
      const measured = await measureThroughput(windowMs, concurrency, request);
      totals[side].rps += measured.requestsPerSecond / windows;
      totals[side].failures += measured.failures;
    }
  }
  return {
    baseline: { requestsPerSecond: totals.baseline.rps, failures: totals.baseline.failures },
    service: { requestsPerSecond: totals.service.rps, failures: totals.service.failures },
  };
}

/** Runs `once` `count` times in a row and returns each duration in ms. */
export async function measureLatencies(count: number, once: () => Promise<number | undefined>): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const measured = await once();
    latencies.push(measured ?? performance.now() - started);
  }
  return latencies;
}

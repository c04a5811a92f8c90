-- Shared by the wrk scripts: one machine-readable line at the end of a run.
-- RESULT <requests/s> <p50 us> <p99 us> <non-2xx or socket errors>
function done(summary, latency, requests)
   local secs = summary.duration / 1e6
   local errors = summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout
   io.write(string.format("RESULT %.0f %.0f %.0f %d\n", summary.requests / secs,
      latency:percentile(50), latency:percentile(99), errors))
end

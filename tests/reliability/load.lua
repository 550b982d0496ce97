-- load.lua - wrk script for tests/reliability/test_load.py: GETs the read
-- endpoints in turn (list, latest, metrics) with a bearer token and counts
-- every response status. Usage: wrk ... -s load.lua URL -- TOKEN
-- done() prints "STATUS code count" lines and one "SUMMARY k=v ..." line.

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    statuses = {}
    paths = { "/api/v1/snapshots?limit=20", "/api/v1/snapshots/latest", "/metrics" }
    n = 0
    if args[1] then
        wrk.headers["Authorization"] = "Bearer " .. args[1]
    end
end

function request()
    n = n + 1
    return wrk.format("GET", paths[(n % #paths) + 1])
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for code, count in pairs(t:get("statuses")) do
            total[code] = (total[code] or 0) + count
        end
    end
    for code, count in pairs(total) do
        io.write(string.format("STATUS %d %d\n", code, count))
    end
    local e = summary.errors
    io.write(string.format("SUMMARY requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d non2xx3xx=%d p50_us=%d p99_us=%d max_us=%d\n",
        summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
        latency:percentile(50), latency:percentile(99), latency.max))
end

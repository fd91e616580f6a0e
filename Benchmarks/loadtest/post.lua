-- wrk script: POST the body in the file named by $PAYLOAD to the target URL,
-- as $CONTENT_TYPE (default application/json), asking for $ACCEPT (default JSON), with
-- $RUN_ID as X-Run-Id when it is set.
local file = assert(io.open(os.getenv("PAYLOAD"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"
wrk.headers["Accept"] = os.getenv("ACCEPT") or "application/json"
if os.getenv("RUN_ID") then
  wrk.headers["X-Run-Id"] = os.getenv("RUN_ID")
end
file:close()

-- Logins of the demo admin (POST /api/token/), each a bcrypt verification on the server.
dofile(os.getenv("LOAD_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.path = "/api/token/"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username": "demo-admin", "password": "bench-password-1"}'

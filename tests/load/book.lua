-- POST /api/appointments/: every request books a distinct 30-minute slot, so every answer must
-- be 201 (any 409 or 5xx counts as an error). Slots of thread k start in year BOOK_YEAR + 50k
-- (BOOK_YEAR defaults to 2040; a second run on the same data needs another one; the API takes
-- years up to 2199).
dofile(os.getenv("LOAD_DIR") .. "/report.lua")
local token = os.getenv("TOKEN")
local doctors = tonumber(os.getenv("DOCTORS"))
local patients = tonumber(os.getenv("PATIENTS"))
local first_doctor = tonumber(os.getenv("FIRST_DOCTOR"))
local first_patient = tonumber(os.getenv("FIRST_PATIENT"))
local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   table.insert(threads, thread)
   next_id = next_id + 1
end

function init(args)
   counter = 0
   base = os.time({year = (tonumber(os.getenv("BOOK_YEAR")) or 2040) + 50 * id, month = 1, day = 1, hour = 0})
end

function request()
   counter = counter + 1
   local t = base + counter * 1800
   local body = string.format(
      '{"doctor": %d, "patient": %d, "appointment_datetime": "%s", "duration_minutes": 30}',
      first_doctor + counter % doctors, first_patient + counter % patients,
      os.date("!%Y-%m-%dT%H:%M:%SZ", t))
   return wrk.format("POST", "/api/appointments/",
      {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end

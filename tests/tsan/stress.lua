-- SPDX-License-Identifier: BSD-2-Clause
-- stress.lua - one client of tests/tsan/stress.sh: milter sessions one after
-- the other, as fast as the filter answers, until SECONDS have passed.
--
--   miltertest -D sock=inet:PORT@127.0.0.1 -D seconds=N -D id=I -s stress.lua
--
-- Each session sends a few known, unknown and mistyped recipients (the
-- client is 127.0.0.1, trusted, so the typo gets a suggestion from the
-- index).  The filter may tempfail any of them while slapd or Redis is away,
-- but must answer every one: a known recipient with SMFIR_CONTINUE or a reply
-- (451), the others with a reply.  Prints one TAP line with the counts; a
-- protocol error (no answer, a dropped connection) is a failure.

local known = { "<john.doe@example.com>", "<jane.smith@example.com>", "<bob@example.com>",
	"<alice@example.org>", "<Mixed.Case@example.com>" }
local unknown = { "<nobody@example.com>", "<jhon.doe@example.com>", "<jane.smyth@example.com>",
	"<someone.else@example.org>" }
local deadline = os.time() + tonumber(seconds)
local n = { sessions = 0, rcpts = 0, continue = 0, reply = 0, errors = 0, wrong = 0 }
local why = nil

local function failed(msg)
	n.errors = n.errors + 1
	if why == nil then
		why = msg
	end
end

-- one RCPT; KNOWN tells whether SMFIR_CONTINUE is a right answer
local function rcpt(conn, addr, is_known)
	local err = mt.rcptto(conn, addr)
	if err ~= nil then
		failed("mt.rcptto " .. addr .. ": " .. err)
		return false
	end
	local r = mt.getreply(conn)
	n.rcpts = n.rcpts + 1
	if r == SMFIR_CONTINUE then
		n.continue = n.continue + 1
		if not is_known then
			n.wrong = n.wrong + 1
			if why == nil then
				why = addr .. " accepted"
			end
		end
	elseif r == SMFIR_REPLYCODE or r == SMFIR_TEMPFAIL then
		n.reply = n.reply + 1
	else
		failed(addr .. ": reply " .. tostring(r))
	end
	return true
end

local function session(k)
	local conn = mt.connect(sock, 20, 0.1)
	if conn == nil then
		failed("connect to " .. sock)
		mt.sleep(0.2)
		return
	end
	n.sessions = n.sessions + 1
	local err = mt.conninfo(conn, "client.example", "127.0.0.1")
	if err == nil and mt.getreply(conn) == SMFIR_CONTINUE then
		err = mt.mailfrom(conn, "<sender@example.net>")
	end
	if err ~= nil then
		failed("connect/MAIL: " .. err)
		mt.disconnect(conn)
		return
	end
	for i = 1, 4 do
		local a = known[(k + i) % #known + 1]
		if not rcpt(conn, a, true) then
			break
		end
		a = unknown[(k + i) % #unknown + 1]
		if not rcpt(conn, a, false) then
			break
		end
	end
	mt.disconnect(conn)
end

local k = tonumber(id)
while os.time() < deadline do
	session(k)
	k = k + 1
end

local line = string.format("client %s: %d sessions, %d recipients (%d accepted, %d replies), " ..
    "%d protocol errors, %d unknown accepted", id, n.sessions, n.rcpts, n.continue, n.reply,
    n.errors, n.wrong)
if n.errors == 0 and n.wrong == 0 and n.rcpts > 0 then
	print("ok - " .. line)
else
	print("not ok - " .. line)
	io.stderr:write("#   first problem: " .. tostring(why) .. "\n")
	os.exit(1)
end

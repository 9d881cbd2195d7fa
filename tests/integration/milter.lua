-- SPDX-License-Identifier: BSD-2-Clause
-- milter.lua - rcptguard at the milter protocol level, driven by miltertest.
--
-- Run by 30-miltertest.sh as
--   miltertest -vv -D sock=inet:PORT@127.0.0.1 -D phase=PHASE -s milter.lua
-- Each check prints a TAP line ("ok - ..." / "not ok - ...") on standard
-- output.  miltertest shows only the reply code of a RCPT (SMFIR_*), not its
-- text; so after each reply that carries text this script writes
--   REPLY <description>|<expected text>
-- on standard output, right after miltertest's own "cmd y, len N" line
-- (miltertest -vvv writes it there too), and
-- 30-miltertest.sh checks that N is the length of the expected text.
--
-- Phases:
--   basic    slapd up: known, unknown, case, subaddress, LDAP syntax,
--            another domain, bad syntax, negotiated steps
--   down     slapd stopped: an address not in the cache is 451 4.3.0, never
--            550; one in the cache is still accepted
--   recover  slapd back: the address of "down" is accepted within ~10 s,
--            without restarting rcptguard
--   unix     over a unix socket: one known recipient

local failed = 0

local function ok(desc)
	print("ok - " .. phase .. ": " .. desc)
end

local function not_ok(desc, why)
	failed = failed + 1
	print("not ok - " .. phase .. ": " .. desc)
	if why ~= nil then
		io.stderr:write("#   " .. why .. "\n")
	end
end

local function code_name(c)
	local names = {
		[SMFIR_CONTINUE] = "SMFIR_CONTINUE", [SMFIR_REPLYCODE] = "SMFIR_REPLYCODE",
		[SMFIR_REJECT] = "SMFIR_REJECT", [SMFIR_TEMPFAIL] = "SMFIR_TEMPFAIL",
		[SMFIR_ACCEPT] = "SMFIR_ACCEPT", [SMFIR_DISCARD] = "SMFIR_DISCARD",
	}
	return names[c] or tostring(c)
end

local function open(client_ip)
	local conn = mt.connect(sock, 50, 0.1)
	if conn == nil then
		not_ok("connect to " .. sock)
		os.exit(1)
	end
	local err = mt.conninfo(conn, "client.example", client_ip or "192.0.2.1")
	if err ~= nil then
		not_ok("connection information accepted", err)
		os.exit(1)
	end
	if mt.getreply(conn) ~= SMFIR_CONTINUE then
		not_ok("connection continues", code_name(mt.getreply(conn)))
	end
	err = mt.mailfrom(conn, "<sender@example.net>")
	if err ~= nil then
		not_ok("MAIL FROM accepted", err)
		os.exit(1)
	end
	if mt.getreply(conn) ~= SMFIR_CONTINUE then
		not_ok("MAIL FROM continues", code_name(mt.getreply(conn)))
	end
	return conn
end

-- RCPT TO, expecting continue
local function accepted(conn, rcpt, desc)
	local err = mt.rcptto(conn, rcpt)
	if err ~= nil then
		not_ok(desc, "mt.rcptto: " .. err)
		return false
	end
	local r = mt.getreply(conn)
	if r == SMFIR_CONTINUE then
		ok(desc)
		return true
	end
	not_ok(desc, rcpt .. ": reply " .. code_name(r) .. ", expected SMFIR_CONTINUE")
	return false
end

-- RCPT TO, expecting a reply with the text TEXT (code, status, words)
local function replied(conn, rcpt, text, desc)
	local err = mt.rcptto(conn, rcpt)
	if err ~= nil then
		not_ok(desc, "mt.rcptto: " .. err)
		return
	end
	local r = mt.getreply(conn)
	if r == SMFIR_REPLYCODE then
		print("REPLY " .. phase .. ": " .. desc .. " (reply text)|" .. text)
		ok(desc)
	else
		not_ok(desc, rcpt .. ": reply " .. code_name(r) .. ", expected SMFIR_REPLYCODE (" ..
		    text .. ")")
	end
end

local function unknown(conn, addr, desc)
	replied(conn, "<" .. addr .. ">",
	    "550 5.1.1 <" .. addr .. ">: Recipient address rejected: User unknown", desc)
end

if phase == "basic" then
	local conn = open("192.0.2.1")
	if mt.test_option(conn, SMFIP_NOBODY) and mt.test_option(conn, SMFIP_NOHDRS) and
	    mt.test_option(conn, SMFIP_NOEOH) then
		ok("no headers and no body are asked for")
	else
		not_ok("no headers and no body are asked for")
	end
	accepted(conn, "<john.doe@example.com>", "a known user is accepted")
	unknown(conn, "nobody@example.com", "an unknown user gets 550 5.1.1")
	accepted(conn, "<MIXED.CASE@EXAMPLE.COM>", "case does not matter")
	accepted(conn, "<John.Doe+tag@example.com>", "a subaddress of a known user is accepted")
	accepted(conn, "<@relay.example:jane.smith@example.com.>", "source route and trailing dot")
	accepted(conn, "<alice@example.org>", "a user of the second domain is accepted")
	unknown(conn, "*@example.com", "a \"*\" local part is no wildcard")
	unknown(conn, "*)(mail=*@example.com", "LDAP filter syntax is data")
	accepted(conn, "<someone@example.net>", "another domain is not looked up")
	replied(conn, "<john,doe@example.com>",
	    "550 5.1.3 Recipient address rejected: Bad address syntax",
	    "bad syntax gets 550 5.1.3")
	accepted(conn, "<jane.smith@example.com>", "a second known user is accepted")
	mt.disconnect(conn)

	-- a second transaction on a new connection: the answers are cached now
	conn = open("192.0.2.2")
	accepted(conn, "<john.doe@example.com>", "a known user, again")
	unknown(conn, "nobody@example.com", "an unknown user, again")
	mt.disconnect(conn)
elseif phase == "down" then
	local conn = open("192.0.2.3")
	replied(conn, "<never.seen@example.com>",
	    "451 4.3.0 <never.seen@example.com>: Temporary lookup failure",
	    "slapd stopped: an address not in the cache gets 451 4.3.0, not 550")
	replied(conn, "<bob@example.com>",
	    "451 4.3.0 <bob@example.com>: Temporary lookup failure",
	    "slapd stopped: a known address not in the cache gets 451 4.3.0")
	accepted(conn, "<john.doe@example.com>", "slapd stopped: a cached address is accepted")
	unknown(conn, "nobody@example.com", "slapd stopped: a cached unknown is still 550")
	mt.disconnect(conn)
elseif phase == "recover" then
	-- the daemon reconnects with a backoff of at most a few seconds
	local done = false
	local tries = 0
	while not done and tries < 48 do
		tries = tries + 1
		local conn = open("192.0.2.4")
		mt.rcptto(conn, "<bob@example.com>")
		if mt.getreply(conn) == SMFIR_CONTINUE then
			done = true
		end
		mt.disconnect(conn)
		if not done then
			mt.sleep(0.25)
		end
	end
	if done then
		ok("slapd back: the address is accepted again without a restart (" .. tries .. " tries)")
	else
		not_ok("slapd back: the address is accepted again without a restart",
		    "still not accepted after " .. tries .. " tries (~12 s)")
	end
	local conn = open("192.0.2.4")
	unknown(conn, "never.seen@example.com", "slapd back: an unknown address is 550 again")
	mt.disconnect(conn)
elseif phase == "unix" then
	local conn = open("192.0.2.5")
	accepted(conn, "<john.doe@example.com>", "a known user is accepted over a unix socket")
	unknown(conn, "nobody@example.com", "an unknown user gets 550 over a unix socket")
	mt.disconnect(conn)
else
	not_ok("known phase", "no such phase: " .. tostring(phase))
end

if failed > 0 then
	os.exit(1)
end

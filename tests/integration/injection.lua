-- SPDX-License-Identifier: BSD-2-Clause
-- injection.lua - hostile recipients at the milter protocol level, for
-- 33-log-injection.sh.  Run as
--   miltertest -D sock=inet:PORT@127.0.0.1 -D client=IP -s injection.lua
-- It sends, from the client IP, recipients whose text looks like another
-- decision line, and checks only that each gets a reply (the log lines they
-- leave are what 33-log-injection.sh examines).

local rcpts = {
	'<"padding-padding x rcptguard[1]: conn=1 client=10.9.8.7 rcpt=<> verdict=unknown "@example.com>',
	'<"x\r\nDec  1 00:00:00 mx rcptguard[1]: conn=2 client=10.9.8.8 rcpt=<a@example.com> verdict=unknown "@example.com>',
	'<"y client=10.9.8.9 rcpt=<b@example.com> verdict=bad-address z"@example.com>',
	'<nobody=client\t10.9.8.10@example.com>',
	'<\xffj\xc3rg@example.com>',
}

local conn = mt.connect(sock, 50, 0.1)
if conn == nil then
	print("not ok - injection: connect to " .. sock)
	os.exit(1)
end
if mt.conninfo(conn, "client.example", client) ~= nil then
	print("not ok - injection: connection information accepted")
	os.exit(1)
end
mt.mailfrom(conn, "<sender@example.net>")
for i, r in ipairs(rcpts) do
	local err = mt.rcptto(conn, r)
	local code = mt.getreply(conn)
	if err == nil and (code == SMFIR_REPLYCODE or code == SMFIR_REJECT or
	    code == SMFIR_TEMPFAIL) then
		print("ok - injection: hostile recipient " .. i .. " gets a reply")
	else
		print("not ok - injection: hostile recipient " .. i .. " gets a reply (" ..
		    tostring(err) .. ", " .. tostring(code) .. ")")
	end
end
mt.disconnect(conn)

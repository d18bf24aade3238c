//! The Lua scripts of the Redis store: each makes a check and its write one
//! step, so that concurrent gateway nodes cannot both pass the check.

use redis::Script;

pub(super) struct Scripts {
    pub(super) track_session: Script,
    pub(super) rate_reserve: Script,
    pub(super) rate_release: Script,
    pub(super) put_link: Script,
    pub(super) remove_link: Script,
    pub(super) record_login: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            // KEYS[1] the sessions' sorted set; ARGV: expiry (unix ms),
            // member, ttl (ms). The set lives as long as its longest session.
            track_session: Script::new(
                r"redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1",
            ),
            // KEYS[1] counter; ARGV: limit, window (ms). Returns {1, count}
            // when granted, {0, ms left in the window} when refused (nothing
            // counted). One script, so concurrent callers cannot both pass
            // the check before either counts. The window starts at the first
            // grant; a key somehow left without a TTL gets one.
            rate_reserve: Script::new(
                r"local limit = tonumber(ARGV[1])
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if c >= limit then
  if ttl == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  elseif ttl < 0 then
    ttl = tonumber(ARGV[2])
  end
  return {0, ttl}
end
c = redis.call('INCR', KEYS[1])
if c == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {1, c}",
            ),
            // KEYS[1] counter. DECR keeps the TTL; a missing key is left
            // missing (a bare DECR would make one without a TTL).
            rate_release: Script::new(
                r"local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c > 0 then return redis.call('DECR', KEYS[1]) end
return 0",
            ),
            // KEYS: links:<oid>, owners, oids. ARGV: oid, login, kind,
            // field, json. Returns 0 when another oid owns the login.
            put_link: Script::new(
                r"if ARGV[3] == 'own' then
  local o = redis.call('HGET', KEYS[2], ARGV[2])
  if o and o ~= ARGV[1] then return 0 end
  if not o then redis.call('HSET', KEYS[2], ARGV[2], ARGV[1]) end
end
redis.call('HSETNX', KEYS[1], ARGV[4], ARGV[5])
redis.call('SADD', KEYS[3], ARGV[1])
return 1",
            ),
            // KEYS: links:<oid>, owners, oids. ARGV: oid, login, field, kind.
            remove_link: Script::new(
                r"local n = redis.call('HDEL', KEYS[1], ARGV[3])
if n == 1 and ARGV[4] == 'own' and redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[2])
end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
return n",
            ),
            // KEYS: history, last:<method>. ARGV: json, login, at.
            record_login: Script::new(
                r"redis.call('RPUSH', KEYS[1], ARGV[1])
local cur = redis.call('HGET', KEYS[2], ARGV[2])
if not cur or tonumber(cur) < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
end
return 1",
            ),
        }
    }
}

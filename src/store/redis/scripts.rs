//! The Lua scripts of the Redis store: each makes a check and its write one
//! step, so that concurrent gateway nodes cannot both pass the check. Each
//! touches the keys of one hash slot only (one subject's tag).

use redis::Script;

pub(super) struct Scripts {
    pub(super) track_session: Script,
    pub(super) rate_reserve: Script,
    pub(super) rate_release: Script,
    pub(super) claim_owner: Script,
    pub(super) release_owner: Script,
    pub(super) record_login: Script,
    pub(super) forget_account: Script,
    pub(super) keep_lock: Script,
    pub(super) drop_lock: Script,
    pub(super) v1_remove_link: Script,
    pub(super) v1_trim_history: Script,
}

/// KEYS: an account's `last`. ARGV: method, at. Keeps the later. (Also
/// sent as EVAL in the migration's pipelines.)
pub(super) const RAISE_LAST: &str = r"local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or tonumber(cur) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1";

/// Version 1. KEYS: a last-login hash. ARGV: login, value read. Removes the
/// field if it still holds what was read.
pub(super) const V1_DROP_LAST: &str = r"if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0";

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
            // KEYS: an account's `owner`. ARGV: oid. Returns 0 when another
            // person owns the account, else 1 (and it is this person's).
            claim_owner: Script::new(
                r"local o = redis.call('GET', KEYS[1])
if o and o ~= ARGV[1] then return 0 end
if not o then redis.call('SET', KEYS[1], ARGV[1]) end
return 1",
            ),
            // KEYS: an account's `owner`. ARGV: oid. Frees the account if
            // this person owns it; returns whether it did.
            release_owner: Script::new(
                r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0",
            ),
            // KEYS: an account's `hist`, `last`. ARGV: member, at, method.
            // The member is unique per login (an id, then the JSON), so
            // sending the same one twice records it once.
            record_login: Script::new(
                r"redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local cur = redis.call('HGET', KEYS[2], ARGV[3])
if not cur or tonumber(cur) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[2])
end
return 1",
            ),
            // KEYS: an account's `hist`, `last`. Removes both; returns the
            // history rows plus 1 for a last-login row.
            forget_account: Script::new(
                r"local n = redis.call('ZCARD', KEYS[1]) + redis.call('EXISTS', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return n",
            ),
            // KEYS: the migration lock. ARGV: token, ms. Keeps the lock when
            // it is still ours; returns whether it was.
            keep_lock: Script::new(
                r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0",
            ),
            // KEYS: the migration lock. ARGV: token.
            drop_lock: Script::new(
                r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0",
            ),
            // Version 1 (one `{durable}` slot). KEYS: links:<oid>, owners,
            // oids. ARGV: oid, login, field, kind.
            v1_remove_link: Script::new(
                r"local n = redis.call('HDEL', KEYS[1], ARGV[3])
if n == 1 and ARGV[4] == 'own' and redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[2])
end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
return n",
            ),
            // Version 1. KEYS: history, the count of rows moved so far.
            // ARGV: that count as the caller read it, rows moved now. Drops
            // the moved rows from the head only if nobody else moved any
            // meanwhile; returns 1 then, else 0.
            v1_trim_history: Script::new(
                r"local c = tonumber(redis.call('GET', KEYS[2]) or '0')
if c ~= tonumber(ARGV[1]) then return 0 end
redis.call('LTRIM', KEYS[1], ARGV[2], -1)
redis.call('INCRBY', KEYS[2], ARGV[2])
return 1",
            ),
        }
    }
}

//! The Lua scripts of the Redis store. Each one runs atomically on the
//! server (Redis executes a script to the end before serving anything
//! else), so a check and the writes it guards can never interleave with
//! another instance's writes.
//!
//! Conventions shared by every script:
//! - A script answers an array whose first element is a status word:
//!   `ok`, `changed` (compare-and-set lost a race), `fenced` (followed by
//!   the current epoch) or `corrupt` (followed by a description naming the
//!   key). Counters come back as integers.
//! - Scripts that could fail half-way validate everything first (decode
//!   every stored record they will need) and write only afterwards: Redis
//!   does not roll a script back when it raises an error, so a script must
//!   not raise one after its first write.
//! - Numbers that become keys or stream ids are formatted with `%d`: Lua's
//!   `tostring` switches to exponent notation above 1e14.
//! - The per-app task sets (`{prefix}:app-tasks:{app}`) are named inside
//!   the scripts from the prefix in ARGV, because an app's name is only
//!   known after decoding a stored task. That is fine on a standalone
//!   (or sentinel-managed) Redis, which is what Hydrogen supports; Redis
//!   Cluster would need every key declared up front.

/// Compare-and-set of one app record.
///
/// KEYS: 1 `apps`, 2 `apps:rev`, 3 `events:head`, 4 `view:rev`,
/// 5 `view:log`, 6 `view:tracked` (see [`VIEW_DELTA`]).
/// ARGV: 1 app name, 2 the raw JSON we read ('' = absent), 3 the new raw
/// JSON, 4 the changes channel.
///
/// The app rules (conflict, expected version, killing, config version) are
/// decided in Rust on the record read just before, with the exact
/// `PartialEq` of `spec::App` that the memory store uses — Lua could not
/// compare specs faithfully (number formats, defaults). This script makes
/// the decision atomic: it writes only if the record is still byte for
/// byte the one the decision was made on, and otherwise answers `changed`
/// so the caller re-reads and decides again.
pub const CAS_APP: &str = r#"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return {'changed'} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
local view = redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[5], view, ARGV[1])
redis.call('INCR', KEYS[6])
local rev = redis.call('INCR', KEYS[2])
local head = tonumber(redis.call('GET', KEYS[3]) or '0')
redis.call('PUBLISH', ARGV[4], 'apps')
return {'ok', rev, head}
"#;

/// Compare-and-set of several app records at once: a multi-app deploy,
/// all or nothing.
///
/// KEYS: 1 `apps`, 2 `apps:rev`, 3 `events:head`, 4 `view:rev`,
/// 5 `view:log`, 6 `view:tracked` (see [`VIEW_DELTA`]).
/// ARGV: 1 the changes channel, then triples (app name, the raw JSON we
/// read ('' = absent), the new raw JSON).
///
/// Like [`CAS_APP`], the decisions were made in Rust; this script checks
/// that every record is still the one decided on before writing any
/// (`changed` otherwise: nothing written, the caller re-reads), then writes
/// them all. One script: Redis runs it whole or not at all, so a stall, a
/// timeout on our side or a client that went away never leaves part of a
/// batch.
pub const CAS_APPS: &str = r#"
local n = (#ARGV - 1) / 3
for i = 0, n - 1 do
  local cur = redis.call('HGET', KEYS[1], ARGV[2 + 3 * i])
  if not cur then cur = '' end
  if cur ~= ARGV[3 + 3 * i] then return {'changed'} end
end
local view = redis.call('INCR', KEYS[4])
for i = 0, n - 1 do
  redis.call('HSET', KEYS[1], ARGV[2 + 3 * i], ARGV[4 + 3 * i])
  redis.call('ZADD', KEYS[5], view, ARGV[2 + 3 * i])
end
redis.call('INCR', KEYS[6])
local rev = redis.call('INCR', KEYS[2])
local head = tonumber(redis.call('GET', KEYS[3]) or '0')
redis.call('PUBLISH', ARGV[1], 'apps')
return {'ok', rev, head}
"#;

/// A fenced scheduler batch, in one call whatever its size.
///
/// KEYS: 1 `epoch`, 2 `tasks`, 3 `statuses`, 4 `apps`, 5 `apps:rev`,
/// 6 `events`, 7 `events:head`, 8 `view:rev` (bumped when the batch is not
/// empty: it may change what State and ListAll show), 9 `statuses:rev`
/// (bumped when the batch writes or drops statuses), 10 `view:log`,
/// 11 `view:tracked` (see [`VIEW_DELTA`]).
/// ARGV: 1 offered epoch, 2 app-tasks key prefix (`{prefix}:app-tasks:`),
/// 3 event log capacity, 4 changes channel, then
/// `n` followed by `n` × (task id, app, task JSON, state, healthy
/// ('' | '1' | '0'), event JSON) for the upserts,
/// `n` followed by `n` task ids to remove,
/// `n` followed by `n` app names to remove,
/// `n` followed by `n` × (app, status JSON).
///
/// Answers `{'ok', apps_rev, head, rev_1, ..., rev_n, statuses_rev,
/// logged, alive}` with one revision per upsert (0 when its state and
/// health did not change, so it appended no event) and, when the batch
/// removed apps, the view log's size and the apps left (else 0, 0);
/// `{'fenced', current_epoch}`, or `{'corrupt', what}`.
pub const APPLY: &str = r#"
local current = redis.call('GET', KEYS[1]) or '0'
if current ~= ARGV[1] then return {'fenced', current} end
local set_prefix = ARGV[2]
local capacity = ARGV[3]
local i = 5

local function health_of(h)
  if h == true then return '1' elseif h == false then return '0' else return '' end
end

-- Pass 1: read and decode everything needed, simulating the batch in
-- order (a task may appear twice), before writing anything.
-- known[id] = {state, healthy, app} as the batch has left it so far, or
-- false once removed.
local known = {}
local function lookup(id)
  local k = known[id]
  if k ~= nil then return k end
  local raw = redis.call('HGET', KEYS[2], id)
  if not raw then known[id] = false; return false end
  local ok, rec = pcall(cjson.decode, raw)
  if not ok or type(rec) ~= 'table' or type(rec.state) ~= 'string' or type(rec.app) ~= 'string' then
    return nil
  end
  k = {rec.state, health_of(rec.healthy), rec.app}
  known[id] = k
  return k
end

local nup = tonumber(ARGV[i]); i = i + 1
local ups = {}
for u = 1, nup do
  local id, app, rec, state, healthy, ev =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  i = i + 6
  local old = lookup(id)
  if old == nil then return {'corrupt', KEYS[2] .. ' field ' .. id} end
  local changed = (not old) or old[1] ~= state or old[2] ~= healthy
  known[id] = {state, healthy, app}
  ups[u] = {id, app, rec, changed, ev}
end

local nrm = tonumber(ARGV[i]); i = i + 1
local rms = {}
for r = 1, nrm do
  local id = ARGV[i]; i = i + 1
  local old = lookup(id)
  if old == nil then return {'corrupt', KEYS[2] .. ' field ' .. id} end
  if old then rms[#rms + 1] = {id, old[3]} end
  known[id] = false
end

local napps = tonumber(ARGV[i]); i = i + 1
local app_rms = {}
for a = 1, napps do app_rms[a] = ARGV[i]; i = i + 1 end

local nst = tonumber(ARGV[i]); i = i + 1
local sts = {}
for s = 1, nst do sts[s] = {ARGV[i], ARGV[i + 1]}; i = i + 2 end

-- Pass 2: write.
if nup + nrm + napps + nst > 0 then
  local view = redis.call('INCR', KEYS[8])
  redis.call('INCR', KEYS[11])
  for u = 1, nup do redis.call('ZADD', KEYS[10], view, ups[u][2]) end
  for r = 1, #rms do redis.call('ZADD', KEYS[10], view, rms[r][2]) end
  for a = 1, napps do redis.call('ZADD', KEYS[10], view, app_rms[a]) end
  for s = 1, nst do redis.call('ZADD', KEYS[10], view, sts[s][1]) end
end
local head = tonumber(redis.call('GET', KEYS[7]) or '0')
local out = {'ok', 0, 0}
local appended = 0
for u = 1, nup do
  local up = ups[u]
  local rev = 0
  if up[4] then
    head = head + 1
    rev = head
    appended = appended + 1
    local h = string.format('%d', head)
    redis.call('XADD', KEYS[6], 'MAXLEN', capacity, h .. '-0', 'rev', h, 'event', up[5])
  end
  redis.call('HSET', KEYS[2], up[1], up[3])
  redis.call('SADD', set_prefix .. up[2], up[1])
  out[#out + 1] = rev
end
if appended > 0 then redis.call('SET', KEYS[7], string.format('%d', head)) end
for r = 1, #rms do
  redis.call('HDEL', KEYS[2], rms[r][1])
  -- SREM deletes the set with its last member.
  redis.call('SREM', set_prefix .. rms[r][2], rms[r][1])
end
for s = 1, nst do redis.call('HSET', KEYS[3], sts[s][1], sts[s][2]) end
local apps_changed = false
for a = 1, napps do
  redis.call('HDEL', KEYS[3], app_rms[a])
  if redis.call('HDEL', KEYS[4], app_rms[a]) == 1 then apps_changed = true end
end
local apps_rev
if apps_changed then
  apps_rev = redis.call('INCR', KEYS[5])
else
  apps_rev = tonumber(redis.call('GET', KEYS[5]) or '0')
end
local statuses_rev
if nst + napps > 0 then
  statuses_rev = redis.call('INCR', KEYS[9])
else
  statuses_rev = tonumber(redis.call('GET', KEYS[9]) or '0')
end
if apps_changed or appended > 0 or nst + napps > 0 then redis.call('PUBLISH', ARGV[4], 'batch') end
out[2] = apps_rev
out[3] = head
out[#out + 1] = statuses_rev
-- Where apps go away, the view log's size and the apps alive, for the trim
-- rule (`store::view_log_excess`, then [`TRIM_VIEW_LOG`]).
if napps > 0 then
  out[#out + 1] = redis.call('ZCARD', KEYS[10])
  out[#out + 1] = redis.call('HLEN', KEYS[4])
else
  out[#out + 1] = 0
  out[#out + 1] = 0
end
return out
"#;

/// Drops the view log's oldest entries, as many as the trim rule
/// (`store::view_log_excess`) says, and raises the floor to the newest
/// revision dropped, in one step: a reader behind the floor then reads a
/// whole snapshot.
///
/// KEYS: 1 `view:log`, 2 `view:floor`. ARGV: 1 how many. Answers how many
/// went.
pub const TRIM_VIEW_LOG: &str = r#"
local drop = tonumber(ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], drop - 1, drop - 1, 'WITHSCORES')
if #last == 0 then return 0 end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, drop - 1)
local floor = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(last[2]) > floor then redis.call('SET', KEYS[2], last[2]) end
return drop
"#;

/// A fenced `SET` of the framework id.
///
/// KEYS: 1 `epoch`, 2 `framework-id`. ARGV: 1 offered epoch, 2 the id.
pub const SET_FRAMEWORK_ID: &str = r#"
local current = redis.call('GET', KEYS[1]) or '0'
if current ~= ARGV[1] then return {'fenced', current} end
redis.call('SET', KEYS[2], ARGV[2])
return {'ok'}
"#;

/// A fenced write of the leader's Mesos link, announced on the changes
/// channel.
///
/// KEYS: 1 `epoch`, 2 `mesos`, 3 `mesos:rev`. ARGV: 1 offered epoch, 2 the
/// link JSON, 3 changes channel. Answers `{'ok', mesos_rev}` or
/// `{'fenced', current_epoch}`.
pub const SET_MESOS_LINK: &str = r#"
local current = redis.call('GET', KEYS[1]) or '0'
if current ~= ARGV[1] then return {'fenced', current} end
redis.call('SET', KEYS[2], ARGV[2])
local rev = redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[3], 'mesos')
return {'ok', rev}
"#;

/// Takes the lease if nobody holds it: a new epoch every time.
///
/// The epoch is the server's clock in microseconds, or one above the last
/// epoch when the clock is not ahead of it. A counter alone repeats across
/// a promotion: a replica promoted without the last grant would hand out
/// the same number again, while the old primary (frozen, or cut off, and
/// still followed by a replica that confirmed the grant) still has its
/// holder believing in it; two leaders with one epoch pass each other's
/// fences. Two grants on two nodes share a number only within the same
/// microsecond, and the promoted node's grants are above every earlier one
/// as long as the nodes' clocks agree to within a Sentinel failover
/// (`down-after-milliseconds`, seconds). Lua numbers are doubles: exact up
/// to 2^53 µs, the year 2255.
///
/// KEYS: 1 `lease`, 2 `epoch`. ARGV: 1 instance id, 2 address, 3 ttl (ms).
/// Answers the lease JSON, or, when it is held, the holder's remaining
/// time in ms (`PTTL`: -1 for a key without expiry). The key expires by
/// itself (`PX`), so an expired lease is simply absent.
pub const ACQUIRE_LEASE: &str = r#"
local left = redis.call('PTTL', KEYS[1])
if left ~= -2 then return left end
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if not last then
  return redis.error_reply('the fencing epoch at ' .. KEYS[2] ..
    ' is not a number; is another program writing it?')
end
local now = redis.call('TIME')
local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
local epoch = math.max(last + 1, clock)
redis.call('SET', KEYS[2], string.format('%d', epoch))
local value = '{"instance_id":' .. cjson.encode(ARGV[1]) .. ',"address":' ..
  cjson.encode(ARGV[2]) .. ',"epoch":' .. string.format('%d', epoch) .. '}'
redis.call('SET', KEYS[1], value, 'PX', ARGV[3])
return value
"#;

/// The lease key, if it holds exactly this lease: shared by renew and
/// release. Compares the decoded fields (the epoch alone is unique per
/// acquisition; the others guard against a hand-edited key).
const LEASE_IS: &str = r#"
local function lease_is(key, id, address, epoch)
  local raw = redis.call('GET', key)
  if not raw then return false end
  local ok, held = pcall(cjson.decode, raw)
  if not ok or type(held) ~= 'table' then return false end
  return held.instance_id == id and held.address == address
    and type(held.epoch) == 'number' and string.format('%d', held.epoch) == epoch
end
"#;

/// Extends our lease. KEYS: 1 `lease`. ARGV: 1 instance id, 2 address,
/// 3 epoch, 4 ttl (ms). Answers 1 when renewed, 0 when it is not ours.
pub fn renew_lease() -> String {
    format!(
        "{LEASE_IS}\nif not lease_is(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end\n\
         redis.call('PEXPIRE', KEYS[1], ARGV[4])\nreturn 1\n"
    )
}

/// Gives our lease up. KEYS: 1 `lease`. ARGV: 1 instance id, 2 address,
/// 3 epoch. Answers 1 when deleted, 0 when it was not ours.
pub fn release_lease() -> String {
    format!(
        "{LEASE_IS}\nif not lease_is(KEYS[1], ARGV[1], ARGV[2], ARGV[3]) then return 0 end\n\
         redis.call('DEL', KEYS[1])\nreturn 1\n"
    )
}

/// The tasks of one app in one round trip, consistent with each other.
/// KEYS: 1 the app's task set, 2 `tasks`. Answers the raw task JSONs (ids
/// whose record is gone are skipped).
pub const APP_TASKS: &str = r#"
local ids = redis.call('SMEMBERS', KEYS[1])
local out = {}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then out[#out + 1] = {id, raw} end
end
return out
"#;

/// What changed in State and ListAll since an earlier view revision, in
/// one consistent cut ([`crate::store::Store::view_delta`]).
///
/// Every writer that bumps `view:rev` also records, in the sorted set
/// `view:log`, each app it touched with the new `view:rev` as its score,
/// and bumps `view:tracked`. The apps scored above the reader's `views` are
/// then exactly the ones that changed, provided no writer skipped the log
/// (an older Hydrogen: `view:rev - view:tracked` moved) and the log still
/// reaches back that far (`view:floor`, the newest score trimmed).
///
/// KEYS: 1 `view:rev`, 2 `apps:rev`, 3 `events:head`, 4 `view:tracked`,
/// 5 `view:floor`, 6 `view:log`, 7 `apps`, 8 `tasks`, 9 `statuses`.
/// ARGV: 1 the reader's `views`, 2 its `tracked`, 3 the app-tasks key
/// prefix.
///
/// Answers `{'full'}` when the delta cannot be told, else `{'ok', views,
/// apps, events, tracked, entry...}` where each entry is `{name, app JSON or
/// '', status JSON or '', {task JSON...}}`.
pub const VIEW_DELTA: &str = r#"
local views = tonumber(redis.call('GET', KEYS[1]) or '0')
local tracked = tonumber(redis.call('GET', KEYS[4]) or '0')
local floor = tonumber(redis.call('GET', KEYS[5]) or '0')
local since = tonumber(ARGV[1])
local since_tracked = tonumber(ARGV[2])
if since < floor or views < since or views - tracked ~= since - since_tracked then
  return {'full'}
end
local out = {'ok', views, tonumber(redis.call('GET', KEYS[2]) or '0'),
  tonumber(redis.call('GET', KEYS[3]) or '0'), tracked}
local names = redis.call('ZRANGEBYSCORE', KEYS[6], '(' .. ARGV[1], '+inf')
for _, name in ipairs(names) do
  local tasks = {}
  for _, id in ipairs(redis.call('SMEMBERS', ARGV[3] .. name)) do
    local raw = redis.call('HGET', KEYS[8], id)
    if raw then tasks[#tasks + 1] = raw end
  end
  out[#out + 1] = {name, redis.call('HGET', KEYS[7], name) or '',
    redis.call('HGET', KEYS[9], name) or '', tasks}
end
return out
"#;

/// The read fence (see `events_after` in the parent module): a write
/// whose only purpose is a replication offset for `WAIT` to confirm.
pub const READ_FENCE: &str = "return redis.call('INCR', KEYS[1])";

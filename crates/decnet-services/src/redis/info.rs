//! `INFO`: the sections and fields Redis 7.0 prints, in its order, with the
//! decky's values (version, kernel, pid, run id, port, uptime counted from the
//! decky's boot, its memory, the keyspace). Older personas print only the
//! fields their release had (the field lists of 5.0.7 and 6.0.16).

use super::state::{Shared, Snapshot};
use super::Version;

/// Sections `INFO` prints without an argument (and `default`).
fn default_sections(v: &Version) -> Vec<&'static str> {
    let mut s = vec![
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
    ];
    if v.major >= 6 {
        s.push("modules");
    }
    if v.at_least(6, 2) {
        s.push("errorstats");
    }
    s.extend(["cluster", "keyspace"]);
    s
}

/// Every section `all` prints.
fn all_sections(v: &Version) -> Vec<&'static str> {
    let mut s = default_sections(v);
    let at = s
        .iter()
        .position(|x| *x == "modules")
        .or_else(|| s.iter().position(|x| *x == "cpu"))
        .map_or(s.len(), |i| i + 1);
    s.insert(at, "commandstats");
    if v.major >= 7 {
        let at = s
            .iter()
            .position(|x| *x == "errorstats")
            .map_or(s.len(), |i| i + 1);
        s.insert(at, "latencystats");
    }
    s
}

fn human(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if n < 1024 * 1024 {
        format!("{:.2}K", f / 1024.0)
    } else if n < 1024 * 1024 * 1024 {
        format!("{:.2}M", f / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", f / (1024.0 * 1024.0 * 1024.0))
    }
}

const FIELDS_5_0: &str = "redis_version redis_git_sha1 redis_git_dirty redis_build_id redis_mode os arch_bits multiplexing_api atomicvar_api gcc_version process_id run_id tcp_port uptime_in_seconds uptime_in_days hz configured_hz lru_clock executable config_file connected_clients client_recent_max_input_buffer client_recent_max_output_buffer blocked_clients used_memory used_memory_human used_memory_rss used_memory_rss_human used_memory_peak used_memory_peak_human used_memory_peak_perc used_memory_overhead used_memory_startup used_memory_dataset used_memory_dataset_perc allocator_allocated allocator_active allocator_resident total_system_memory total_system_memory_human used_memory_lua used_memory_lua_human used_memory_scripts used_memory_scripts_human number_of_cached_scripts maxmemory maxmemory_human maxmemory_policy allocator_frag_ratio allocator_frag_bytes allocator_rss_ratio allocator_rss_bytes rss_overhead_ratio rss_overhead_bytes mem_fragmentation_ratio mem_fragmentation_bytes mem_not_counted_for_evict mem_replication_backlog mem_clients_slaves mem_clients_normal mem_aof_buffer mem_allocator active_defrag_running lazyfree_pending_objects loading rdb_changes_since_last_save rdb_bgsave_in_progress rdb_last_save_time rdb_last_bgsave_status rdb_last_bgsave_time_sec rdb_current_bgsave_time_sec rdb_last_cow_size aof_enabled aof_rewrite_in_progress aof_rewrite_scheduled aof_last_rewrite_time_sec aof_current_rewrite_time_sec aof_last_bgrewrite_status aof_last_write_status aof_last_cow_size total_connections_received total_commands_processed instantaneous_ops_per_sec total_net_input_bytes total_net_output_bytes instantaneous_input_kbps instantaneous_output_kbps rejected_connections sync_full sync_partial_ok sync_partial_err expired_keys expired_stale_perc expired_time_cap_reached_count evicted_keys keyspace_hits keyspace_misses pubsub_channels pubsub_patterns latest_fork_usec migrate_cached_sockets slave_expires_tracked_keys active_defrag_hits active_defrag_misses active_defrag_key_hits active_defrag_key_misses role master_host master_port master_link_status master_last_io_seconds_ago master_sync_in_progress slave_repl_offset master_link_down_since_seconds slave_priority slave_read_only connected_slaves master_replid master_replid2 master_repl_offset second_repl_offset repl_backlog_active repl_backlog_size repl_backlog_first_byte_offset repl_backlog_histlen used_cpu_sys used_cpu_user used_cpu_sys_children used_cpu_user_children cluster_enabled module";
const FIELDS_6_0: &str = " io_threads_active tracking_clients clients_in_timeout_table module_fork_in_progress module_fork_last_cow_size expire_cycle_cpu_milliseconds tracking_total_keys tracking_total_items tracking_total_prefixes unexpected_error_replies total_reads_processed total_writes_processed io_threaded_reads_processed io_threaded_writes_processed";
const FIELDS_6_2: &str = " monotonic_clock process_supervised server_time_usec total_error_replies dump_payload_sanitizations rdb_last_load_keys_expired rdb_last_load_keys_loaded current_cow_size current_cow_size_age current_fork_perc current_save_keys_processed current_save_keys_total total_forks total_eviction_exceeded_time current_eviction_exceeded_time master_failover_state replica_announced slave_read_repl_offset current_cow_peak evicted_clients";

/// Whether a field existed in the persona's release.
fn has(v: &Version, field: &str) -> bool {
    if v.major >= 7 {
        return true;
    }
    let listed = |s: &str| s.split(' ').any(|f| f == field);
    listed(FIELDS_5_0)
        || (v.major >= 6 && listed(FIELDS_6_0))
        || (v.at_least(6, 2) && listed(FIELDS_6_2))
}

/// The `INFO` text for the given arguments (empty: the default sections).
pub fn render(sh: &Shared, snap: &Snapshot, args: &[Vec<u8>]) -> String {
    let v = &sh.version;
    let mut wanted: Vec<String> = Vec::new();
    if args.is_empty() {
        wanted = default_sections(v).into_iter().map(str::to_owned).collect();
    }
    for a in args {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "default" => wanted.extend(default_sections(v).into_iter().map(str::to_owned)),
            "all" | "everything" => wanted.extend(all_sections(v).into_iter().map(str::to_owned)),
            _ => wanted.push(a),
        }
        if v.major < 7 {
            // Before 7.0 INFO took one section.
            break;
        }
    }
    let mut out = String::new();
    for name in all_sections(v) {
        if !wanted.iter().any(|w| w == name) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        section(sh, snap, name, &mut out);
    }
    out
}

fn section(sh: &Shared, s: &Snapshot, name: &str, out: &mut String) {
    let v = &sh.version;
    let mut f: Vec<(&str, String)> = Vec::new();
    let title = match name {
        "server" => {
            let up = (s.now_ms / 1000 - sh.started).max(0);
            f.extend([
                ("redis_version", v.text.clone()),
                ("redis_git_sha1", "00000000".into()),
                ("redis_git_dirty", "0".into()),
                ("redis_build_id", sh.build_id.clone()),
                ("redis_mode", "standalone".into()),
                ("os", sh.os.clone()),
                ("arch_bits", "64".into()),
                ("monotonic_clock", "POSIX clock_gettime".into()),
                ("multiplexing_api", "epoll".into()),
                (
                    "atomicvar_api",
                    if v.major >= 6 {
                        "c11-builtin"
                    } else {
                        "atomic-builtin"
                    }
                    .into(),
                ),
                ("gcc_version", sh.gcc.clone()),
                ("process_id", sh.pid.to_string()),
                ("process_supervised", "systemd".into()),
                ("run_id", sh.run_id.clone()),
                ("tcp_port", s.port.to_string()),
                (
                    "server_time_usec",
                    (s.now_ms * 1000 + i64::from(s.micros)).to_string(),
                ),
                ("uptime_in_seconds", up.to_string()),
                ("uptime_in_days", (up / 86_400).to_string()),
                ("hz", "10".into()),
                ("configured_hz", "10".into()),
                ("lru_clock", ((s.now_ms / 1000) & 0x00ff_ffff).to_string()),
                ("executable", "/usr/bin/redis-server".into()),
                ("config_file", "/etc/redis/redis.conf".into()),
                ("io_threads_active", "0".into()),
            ]);
            "Server"
        }
        "clients" => {
            f.extend([
                ("connected_clients", s.clients.to_string()),
                ("cluster_connections", "0".into()),
                ("maxclients", "10000".into()),
                ("client_recent_max_input_buffer", "20480".into()),
                ("client_recent_max_output_buffer", "0".into()),
                ("blocked_clients", "0".into()),
                ("tracking_clients", "0".into()),
                ("clients_in_timeout_table", "0".into()),
            ]);
            "Clients"
        }
        "memory" => {
            let used = 876_200 + (s.bytes as u64) * 3 / 2 + 20_000 * s.clients as u64;
            let peak = used.max(s.peak);
            let rss = (used * 3 / 2 + 6_000_000) / 4096 * 4096;
            let total = sh.mem_total;
            f.extend([
                ("used_memory", used.to_string()),
                ("used_memory_human", human(used)),
                ("used_memory_rss", rss.to_string()),
                ("used_memory_rss_human", human(rss)),
                ("used_memory_peak", peak.to_string()),
                ("used_memory_peak_human", human(peak)),
                (
                    "used_memory_peak_perc",
                    format!("{:.2}%", used as f64 * 100.0 / peak as f64),
                ),
                (
                    "used_memory_overhead",
                    (876_400 + 20_000 * s.clients as u64).to_string(),
                ),
                ("used_memory_startup", "876200".into()),
                (
                    "used_memory_dataset",
                    used.saturating_sub(876_400).to_string(),
                ),
                (
                    "used_memory_dataset_perc",
                    format!(
                        "{:.2}%",
                        used.saturating_sub(876_400) as f64 * 100.0
                            / (used.saturating_sub(876_200).max(1)) as f64
                    ),
                ),
                ("allocator_allocated", (used + 774_000).to_string()),
                ("allocator_active", (used + 910_000).to_string()),
                ("allocator_resident", (used + 3_580_000).to_string()),
                ("total_system_memory", total.to_string()),
                ("total_system_memory_human", human(total)),
                ("used_memory_lua", "32768".into()),
                ("used_memory_vm_eval", "32768".into()),
                ("used_memory_lua_human", "32.00K".into()),
                ("used_memory_scripts_eval", (s.scripts * 184).to_string()),
                ("number_of_cached_scripts", s.scripts.to_string()),
                ("number_of_functions", "0".into()),
                ("number_of_libraries", "0".into()),
                ("used_memory_vm_functions", "33792".into()),
                ("used_memory_vm_total", "66560".into()),
                ("used_memory_vm_total_human", "65.00K".into()),
                ("used_memory_functions", "200".into()),
                ("used_memory_scripts", (200 + s.scripts * 184).to_string()),
                ("used_memory_scripts_human", human(200 + s.scripts * 184)),
                ("maxmemory", "0".into()),
                ("maxmemory_human", "0B".into()),
                ("maxmemory_policy", "noeviction".into()),
                ("allocator_frag_ratio", "1.08".into()),
                ("allocator_frag_bytes", "135968".into()),
                ("allocator_rss_ratio", "2.46".into()),
                ("allocator_rss_bytes", "2670592".into()),
                ("rss_overhead_ratio", "1.45".into()),
                ("rss_overhead_bytes", "2007040".into()),
                (
                    "mem_fragmentation_ratio",
                    format!("{:.2}", rss as f64 / used as f64),
                ),
                (
                    "mem_fragmentation_bytes",
                    rss.saturating_sub(used).to_string(),
                ),
                ("mem_not_counted_for_evict", "0".into()),
                ("mem_replication_backlog", "0".into()),
                ("mem_total_replication_buffers", "0".into()),
                ("mem_clients_slaves", "0".into()),
                (
                    "mem_clients_normal",
                    (20_000 * s.clients as u64).to_string(),
                ),
                ("mem_cluster_links", "0".into()),
                ("mem_aof_buffer", "0".into()),
                ("mem_allocator", "jemalloc-5.3.0".into()),
                ("active_defrag_running", "0".into()),
                ("lazyfree_pending_objects", "0".into()),
                ("lazyfreed_objects", "0".into()),
            ]);
            "Memory"
        }
        "persistence" => {
            f.extend([
                ("loading", "0".into()),
                ("async_loading", "0".into()),
                ("current_cow_peak", "0".into()),
                ("current_cow_size", "0".into()),
                ("current_cow_size_age", "0".into()),
                ("current_fork_perc", "0.00".into()),
                ("current_save_keys_processed", "0".into()),
                ("current_save_keys_total", "0".into()),
                ("rdb_changes_since_last_save", s.dirty.to_string()),
                ("rdb_bgsave_in_progress", "0".into()),
                ("rdb_last_save_time", s.last_save.to_string()),
                ("rdb_last_bgsave_status", "ok".into()),
                (
                    "rdb_last_bgsave_time_sec",
                    if s.saves > 0 { "0" } else { "-1" }.into(),
                ),
                ("rdb_current_bgsave_time_sec", "-1".into()),
                ("rdb_saves", s.saves.to_string()),
                (
                    "rdb_last_cow_size",
                    if s.saves > 0 { "430080" } else { "0" }.into(),
                ),
                ("rdb_last_load_keys_expired", "0".into()),
                ("rdb_last_load_keys_loaded", s.keys_loaded.to_string()),
                ("aof_enabled", "0".into()),
                ("aof_rewrite_in_progress", "0".into()),
                ("aof_rewrite_scheduled", "0".into()),
                ("aof_last_rewrite_time_sec", "-1".into()),
                ("aof_current_rewrite_time_sec", "-1".into()),
                ("aof_last_bgrewrite_status", "ok".into()),
                ("aof_rewrites", "0".into()),
                ("aof_rewrites_consecutive_failures", "0".into()),
                ("aof_last_write_status", "ok".into()),
                ("aof_last_cow_size", "0".into()),
                ("module_fork_in_progress", "0".into()),
                ("module_fork_last_cow_size", "0".into()),
            ]);
            "Persistence"
        }
        "stats" => {
            f.extend([
                ("total_connections_received", s.connections.to_string()),
                ("total_commands_processed", s.commands.to_string()),
                ("instantaneous_ops_per_sec", "0".into()),
                ("total_net_input_bytes", s.net_in.to_string()),
                ("total_net_output_bytes", s.net_out.to_string()),
                ("total_net_repl_input_bytes", "0".into()),
                ("total_net_repl_output_bytes", "0".into()),
                ("instantaneous_input_kbps", "0.00".into()),
                ("instantaneous_output_kbps", "0.00".into()),
                ("instantaneous_input_repl_kbps", "0.00".into()),
                ("instantaneous_output_repl_kbps", "0.00".into()),
                ("rejected_connections", "0".into()),
                ("sync_full", "0".into()),
                ("sync_partial_ok", "0".into()),
                ("sync_partial_err", "0".into()),
                ("expired_keys", s.expired.to_string()),
                ("expired_stale_perc", "0.00".into()),
                ("expired_time_cap_reached_count", "0".into()),
                (
                    "expire_cycle_cpu_milliseconds",
                    (s.commands / 40).to_string(),
                ),
                ("evicted_keys", "0".into()),
                ("evicted_clients", "0".into()),
                ("total_eviction_exceeded_time", "0".into()),
                ("current_eviction_exceeded_time", "0".into()),
                ("keyspace_hits", s.hits.to_string()),
                ("keyspace_misses", s.misses.to_string()),
                ("pubsub_channels", "0".into()),
                ("pubsub_patterns", "0".into()),
                ("pubsubshard_channels", "0".into()),
                (
                    "latest_fork_usec",
                    if s.saves > 0 { "312" } else { "0" }.into(),
                ),
                ("total_forks", s.saves.to_string()),
                ("migrate_cached_sockets", "0".into()),
                ("slave_expires_tracked_keys", "0".into()),
                ("active_defrag_hits", "0".into()),
                ("active_defrag_misses", "0".into()),
                ("active_defrag_key_hits", "0".into()),
                ("active_defrag_key_misses", "0".into()),
                ("total_active_defrag_time", "0".into()),
                ("current_active_defrag_time", "0".into()),
                ("tracking_total_keys", "0".into()),
                ("tracking_total_items", "0".into()),
                ("tracking_total_prefixes", "0".into()),
                ("unexpected_error_replies", "0".into()),
                ("total_error_replies", s.errors.to_string()),
                ("dump_payload_sanitizations", "0".into()),
                ("total_reads_processed", s.commands.to_string()),
                ("total_writes_processed", s.commands.to_string()),
                ("io_threaded_reads_processed", "0".into()),
                ("io_threaded_writes_processed", "0".into()),
                ("reply_buffer_shrinks", "0".into()),
                ("reply_buffer_expands", "0".into()),
            ]);
            "Stats"
        }
        "replication" => {
            match &s.master {
                Some((host, port)) => {
                    f.extend([
                        ("role", "slave".into()),
                        ("master_host", host.clone()),
                        ("master_port", port.to_string()),
                        ("master_link_status", "down".into()),
                        ("master_last_io_seconds_ago", "-1".into()),
                        ("master_sync_in_progress", "0".into()),
                        ("slave_read_repl_offset", "0".into()),
                        ("slave_repl_offset", "0".into()),
                        ("master_link_down_since_seconds", "-1".into()),
                        ("slave_priority", "100".into()),
                        ("slave_read_only", "1".into()),
                        ("replica_announced", "1".into()),
                    ]);
                }
                None => f.push(("role", "master".into())),
            }
            f.extend([
                ("connected_slaves", "0".into()),
                ("master_failover_state", "no-failover".into()),
                ("master_replid", s.replid.clone()),
                ("master_replid2", s.replid2.clone()),
                ("master_repl_offset", "0".into()),
                (
                    "second_repl_offset",
                    if s.replid2.starts_with('0') {
                        "-1"
                    } else {
                        "1"
                    }
                    .into(),
                ),
                ("repl_backlog_active", "0".into()),
                ("repl_backlog_size", "1048576".into()),
                ("repl_backlog_first_byte_offset", "0".into()),
                ("repl_backlog_histlen", "0".into()),
            ]);
            "Replication"
        }
        "cpu" => {
            let up = (s.now_ms / 1000 - sh.started).max(0) as f64;
            let sys = up * 0.00061 + s.commands as f64 * 0.000011;
            let user = up * 0.00093 + s.commands as f64 * 0.000017;
            f.extend([
                ("used_cpu_sys", format!("{sys:.6}")),
                ("used_cpu_user", format!("{user:.6}")),
                (
                    "used_cpu_sys_children",
                    format!("{:.6}", s.saves as f64 * 0.0012),
                ),
                (
                    "used_cpu_user_children",
                    format!("{:.6}", s.saves as f64 * 0.0009),
                ),
                ("used_cpu_sys_main_thread", format!("{:.6}", sys * 0.98)),
                ("used_cpu_user_main_thread", format!("{:.6}", user * 0.99)),
            ]);
            "CPU"
        }
        "modules" => {
            for m in &s.modules {
                f.push((
                    "module",
                    format!("name={m},ver=1,api=1,filters=0,usedby=[],using=[],options=[]"),
                ));
            }
            "Modules"
        }
        "commandstats" => {
            let mut lines = String::new();
            for (cmd, calls) in &s.cmdstats {
                let usec = calls * 3;
                if v.at_least(6, 2) {
                    lines.push_str(&format!("cmdstat_{cmd}:calls={calls},usec={usec},usec_per_call=3.00,rejected_calls=0,failed_calls=0\r\n"));
                } else {
                    lines.push_str(&format!(
                        "cmdstat_{cmd}:calls={calls},usec={usec},usec_per_call=3.00\r\n"
                    ));
                }
            }
            out.push_str("# Commandstats\r\n");
            out.push_str(&lines);
            return;
        }
        "errorstats" => {
            out.push_str("# Errorstats\r\n");
            for (e, n) in &s.errorstats {
                out.push_str(&format!("errorstat_{e}:count={n}\r\n"));
            }
            return;
        }
        "latencystats" => {
            out.push_str("# Latencystats\r\n");
            for cmd in s.cmdstats.keys() {
                out.push_str(&format!(
                    "latency_percentiles_usec_{cmd}:p50=3.007,p99=12.031,p99.9=25.087\r\n"
                ));
            }
            return;
        }
        "cluster" => {
            f.push(("cluster_enabled", "0".into()));
            "Cluster"
        }
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            for (db, keys, expires, avg) in &s.dbs {
                out.push_str(&format!(
                    "db{db}:keys={keys},expires={expires},avg_ttl={avg}\r\n"
                ));
            }
            return;
        }
        _ => return,
    };
    out.push_str(&format!("# {title}\r\n"));
    for (k, val) in f {
        if has(v, k) {
            out.push_str(k);
            out.push(':');
            out.push_str(&val);
            out.push_str("\r\n");
        }
    }
}

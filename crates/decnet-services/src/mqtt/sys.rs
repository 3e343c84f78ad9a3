//! The `$SYS/broker/…` tree Mosquitto publishes (every `sys_interval`, 10 s by
//! default, all retained), in the order Mosquitto 2.0.11 sends it to a new
//! `$SYS/#` subscriber. The numbers are those of a broker that has been up for
//! weeks with the plant's devices connected: counters grow with uptime at the
//! rate the devices publish, load averages wobble around that rate.

use super::sensors::{Message, Noise};

/// Mosquitto's default `sys_interval`: how often `$SYS` is republished.
pub const SYS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
/// How often the plant's devices publish a round of readings.
pub const SENSOR_PERIOD: std::time::Duration = std::time::Duration::from_secs(30);

/// The broker's `$SYS` facts for one decky.
#[derive(Debug, Clone)]
pub struct SysTree {
    /// `mosquitto version 2.0.11`.
    pub version: String,
    /// When the broker started (Unix seconds).
    started: i64,
    /// Connected clients (the plant's devices and a dashboard or two).
    clients: u64,
    /// Clients with a persistent session that are gone.
    disconnected: u64,
    /// Retained messages the broker holds.
    retained: u64,
    /// Messages per second the clients publish.
    rate: f64,
    /// Average bytes per message.
    size: f64,
    noise: Noise,
}

impl SysTree {
    /// The tree of a broker announcing `version`, with `devices` publishing
    /// clients and `retained` retained messages, whose draws come from `noise`.
    pub fn new(version: &str, devices: usize, retained: usize, noise: Noise) -> SysTree {
        // Up since a restart some 3 to 60 days ago; the restart moves on every 61 days.
        let period = 61 * 86_400;
        let offset = (noise.unit("sys/start", 0) * period as f64) as i64;
        let now = chrono::Utc::now().timestamp();
        let since = (now + offset).rem_euclid(period).max(3 * 86_400);
        let dashboards = 1 + noise.pick("sys/dashboards", 2) as u64;
        SysTree {
            version: format!("mosquitto version {version}"),
            started: now - since,
            clients: devices as u64 + dashboards,
            disconnected: noise.pick("sys/disconnected", 3) as u64,
            retained: retained as u64 + 40,
            rate: devices as f64 / 30.0 * (1.0 + noise.unit("sys/rate", 0)),
            size: 90.0 + noise.unit("sys/size", 0) * 120.0,
            noise,
        }
    }

    /// Every `$SYS` topic with its value at `now` (Unix seconds).
    pub fn messages(&self, now: i64) -> Vec<Message> {
        let up = (now - self.started).max(1);
        let upf = up as f64;
        let n = &self.noise;
        let received = (upf * (self.rate + 0.1)) as u64;
        let fanout = 1.3 + n.unit("sys/fanout", 0);
        let sent = (received as f64 * fanout) as u64;
        let pub_received = (upf * self.rate) as u64;
        let pub_sent = (pub_received as f64 * fanout) as u64;
        let heap = 42_000.0 + self.clients as f64 * 2_300.0;
        let heap_now = (heap * (1.0 + 0.05 * n.smooth("sys/heap", now, 120))) as u64;
        let heap_max = (heap * 1.25) as u64;
        let store_bytes = self.retained * 31;
        let mut out = vec![
            Message::text("$SYS/broker/version", self.version.clone()),
            Message::text("$SYS/broker/uptime", format!("{up} seconds")),
            Message::text(
                "$SYS/broker/clients/total",
                (self.clients + self.disconnected).to_string(),
            ),
        ];
        if self.disconnected > 0 {
            out.push(Message::text(
                "$SYS/broker/clients/inactive",
                self.disconnected.to_string(),
            ));
            out.push(Message::text(
                "$SYS/broker/clients/disconnected",
                self.disconnected.to_string(),
            ));
        }
        out.push(Message::text(
            "$SYS/broker/clients/active",
            self.clients.to_string(),
        ));
        out.push(Message::text(
            "$SYS/broker/clients/connected",
            self.clients.to_string(),
        ));
        out.push(Message::text(
            "$SYS/broker/clients/maximum",
            (self.clients + 2).to_string(),
        ));
        let per_min = |what: &str, base: f64| -> [(String, String); 3] {
            let at = |label: &str, spread: f64| {
                let v = base
                    * 60.0
                    * (1.0 + spread * n.smooth(&format!("sys/{what}/{label}"), now, 60));
                format!("{:.2}", v.max(0.0))
            };
            [
                (format!("$SYS/broker/load/{what}/1min"), at("1", 0.25)),
                (format!("$SYS/broker/load/{what}/5min"), at("5", 0.1)),
                (format!("$SYS/broker/load/{what}/15min"), at("15", 0.04)),
            ]
        };
        let msg_rate = self.rate + 0.1;
        for (what, base) in [
            ("messages/received", msg_rate),
            ("messages/sent", msg_rate * fanout),
            ("publish/received", self.rate),
            ("publish/sent", self.rate * fanout),
            ("bytes/received", msg_rate * self.size),
            ("bytes/sent", msg_rate * fanout * self.size),
            ("sockets", 0.02),
            ("connections", 0.02),
        ] {
            for (t, v) in per_min(what, base) {
                out.push(Message::text(t, v));
            }
        }
        for (t, v) in [
            ("messages/stored", self.retained),
            ("messages/received", received),
            ("messages/sent", sent),
            ("store/messages/count", self.retained),
            ("store/messages/bytes", store_bytes),
            ("subscriptions/count", self.clients * 2),
            ("retained messages/count", self.retained),
            ("heap/current", heap_now),
            ("heap/maximum", heap_max),
            ("publish/messages/received", pub_received),
            ("publish/messages/sent", pub_sent),
            (
                "publish/bytes/received",
                (pub_received as f64 * self.size) as u64,
            ),
            ("publish/bytes/sent", (pub_sent as f64 * self.size) as u64),
            (
                "bytes/received",
                (received as f64 * (self.size + 8.0)) as u64,
            ),
            ("bytes/sent", (sent as f64 * (self.size + 6.0)) as u64),
        ] {
            out.push(Message::text(format!("$SYS/broker/{t}"), v.to_string()));
        }
        out
    }

    /// The topics republished every [`SYS_INTERVAL`] (all but the version, which never changes).
    pub fn update(&self, now: i64) -> Vec<Message> {
        self.messages(now)
            .into_iter()
            .filter(|m| m.topic != "$SYS/broker/version")
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_names_the_version_first_and_counts_grow_with_uptime() {
        let t = SysTree::new("2.0.11", 5, 6, Noise::new([3; 32]));
        let now = chrono::Utc::now().timestamp();
        let a = t.messages(now);
        assert_eq!(
            a[0],
            Message::text("$SYS/broker/version", "mosquitto version 2.0.11")
        );
        let up = |m: &[Message]| -> i64 {
            let v = String::from_utf8(m[1].payload.clone()).unwrap();
            v.strip_suffix(" seconds").unwrap().parse().unwrap()
        };
        assert!(up(&a) >= 3 * 86_400 && up(&a) <= 61 * 86_400);
        let b = t.messages(now + 10);
        assert_eq!(up(&b) - up(&a), 10);
        let get = |m: &[Message], topic: &str| -> u64 {
            let m = m.iter().find(|m| m.topic == topic).unwrap();
            String::from_utf8(m.payload.clone())
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!(
            get(&b, "$SYS/broker/messages/received") >= get(&a, "$SYS/broker/messages/received")
        );
        assert_eq!(
            get(&a, "$SYS/broker/clients/connected"),
            get(&a, "$SYS/broker/clients/active")
        );
        assert!(t
            .update(now)
            .iter()
            .all(|m| m.topic != "$SYS/broker/version"));
        assert!(a.len() >= 44, "{}", a.len());
    }
}

//! The bait a subscriber sees: the devices that publish to this broker, chosen
//! from the decky's seed, and their readings, which follow a daily curve with
//! smooth noise so two looks minutes apart differ the way real sensors do.
//!
//! A decky's devices speak one of three dialects found on exposed brokers:
//! zigbee2mqtt (`zigbee2mqtt/<device>` with JSON state), Tasmota plugs
//! (`tele/<device>/SENSOR`, `…/STATE`, `…/LWT`) or plain building-automation
//! values (`<site>/<area>/<device>/<metric>`). Every reading is a function of
//! the seed and the time, so the same decky shows the same plant on every
//! connection and after a restart, and no two deckies show the same one.

use sha2::{Digest as _, Sha256};

/// One message a broker holds or sends: topic and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic name.
    pub topic: String,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

impl Message {
    /// A message of `topic` with a text payload.
    pub fn text(topic: impl Into<String>, payload: impl Into<String>) -> Message {
        Message {
            topic: topic.into(),
            payload: payload.into().into_bytes(),
        }
    }
}

/// Deterministic draws from the decky's seed.
#[derive(Debug, Clone)]
pub struct Noise {
    key: [u8; 32],
}

impl Noise {
    /// Draws keyed by `key` (from the instance seed).
    pub fn new(key: [u8; 32]) -> Noise {
        Noise { key }
    }

    /// A number in `[0, 1)` for `label` and `n`.
    pub fn unit(&self, label: &str, n: i64) -> f64 {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(label.as_bytes());
        h.update(n.to_be_bytes());
        let d = h.finalize();
        let mut x = [0u8; 8];
        for (dst, src) in x.iter_mut().zip(d.iter()) {
            *dst = *src;
        }
        (u64::from_be_bytes(x) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A whole number in `0..n`.
    pub fn pick(&self, label: &str, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        ((self.unit(label, 0) * n as f64) as usize).min(n - 1)
    }

    /// Smooth noise in `[-1, 1]` over time: knots every `period` seconds, eased between.
    pub fn smooth(&self, label: &str, t: i64, period: i64) -> f64 {
        let period = period.max(1);
        let k = t.div_euclid(period);
        let f = t.rem_euclid(period) as f64 / period as f64;
        let a = self.unit(label, k) * 2.0 - 1.0;
        let b = self.unit(label, k + 1) * 2.0 - 1.0;
        let s = f * f * (3.0 - 2.0 * f);
        a + (b - a) * s
    }
}

/// A quantity that follows a daily curve: `base`, plus `daily` times a sine
/// peaking mid-afternoon, plus `jitter` of smooth noise.
#[derive(Debug, Clone, Copy)]
struct Curve {
    base: f64,
    daily: f64,
    jitter: f64,
}

impl Curve {
    fn at(&self, noise: &Noise, label: &str, t: i64) -> f64 {
        let day = (t.rem_euclid(86_400) as f64 - 15.0 * 3600.0) / 86_400.0;
        let diurnal = (day * std::f64::consts::TAU).cos();
        self.base
            + self.daily * diurnal
            + self.jitter * (0.7 * noise.smooth(label, t, 900) + 0.3 * noise.smooth(label, t, 97))
    }
}

/// What kind of device publishes.
#[derive(Debug, Clone)]
enum Kind {
    /// zigbee2mqtt temperature/humidity/pressure sensor (Aqara WSDCGQ11LM).
    Climate { temp: Curve, humidity: Curve },
    /// zigbee2mqtt door contact (Aqara MCCGQ11LM).
    Contact,
    /// Tasmota power plug with energy monitoring.
    Plug { watts: Curve, since: i64 },
    /// One plain value per topic.
    Plain { curve: Curve, decimals: usize },
}

/// One device on the broker.
#[derive(Debug, Clone)]
struct Device {
    /// Topic (base topic for Tasmota).
    topic: String,
    kind: Kind,
    /// Label for its noise.
    label: String,
}

/// The devices of one decky's broker.
#[derive(Debug, Clone)]
pub struct Plant {
    noise: Noise,
    devices: Vec<Device>,
    /// Topics retained once and never changing (bridge state, LWT).
    fixed: Vec<Message>,
}

const ROOMS: [&str; 12] = [
    "office",
    "server_room",
    "meeting_room",
    "reception",
    "warehouse",
    "lab",
    "kitchen",
    "storage",
    "workshop",
    "hallway",
    "archive",
    "it_closet",
];

const PLUGS: [&str; 8] = [
    "coffee_machine",
    "rack_fan",
    "printer",
    "dehumidifier",
    "ups_bypass",
    "heater",
    "fridge",
    "compressor",
];

/// Building-automation points: area, device, metric, curve, decimals.
const POINTS: [(&str, &str, &str, Curve, usize); 10] = [
    (
        "hvac",
        "ahu-01",
        "supply_temp",
        Curve {
            base: 15.5,
            daily: 1.2,
            jitter: 0.4,
        },
        1,
    ),
    (
        "hvac",
        "ahu-01",
        "return_temp",
        Curve {
            base: 22.0,
            daily: 1.5,
            jitter: 0.3,
        },
        1,
    ),
    (
        "hvac",
        "ahu-01",
        "fan_speed",
        Curve {
            base: 62.0,
            daily: 12.0,
            jitter: 4.0,
        },
        0,
    ),
    (
        "hvac",
        "chiller-02",
        "leaving_water_temp",
        Curve {
            base: 7.1,
            daily: 0.5,
            jitter: 0.2,
        },
        1,
    ),
    (
        "power",
        "meter-01",
        "kw",
        Curve {
            base: 41.0,
            daily: 14.0,
            jitter: 3.0,
        },
        2,
    ),
    (
        "power",
        "meter-01",
        "voltage_l1",
        Curve {
            base: 231.0,
            daily: 1.5,
            jitter: 1.2,
        },
        1,
    ),
    (
        "cold-storage",
        "freezer-03",
        "temp",
        Curve {
            base: -19.5,
            daily: 0.4,
            jitter: 0.6,
        },
        1,
    ),
    (
        "cold-storage",
        "fridge-01",
        "temp",
        Curve {
            base: 3.8,
            daily: 0.3,
            jitter: 0.5,
        },
        1,
    ),
    (
        "compressed-air",
        "compressor-1",
        "pressure_bar",
        Curve {
            base: 7.2,
            daily: 0.2,
            jitter: 0.15,
        },
        2,
    ),
    (
        "water",
        "tank-2",
        "level_pct",
        Curve {
            base: 71.0,
            daily: 6.0,
            jitter: 2.0,
        },
        0,
    ),
];

fn round(x: f64, decimals: usize) -> String {
    format!("{x:.decimals$}")
}

/// A zigbee IEEE address (`0x00158d0001a2b3c4`).
fn ieee(noise: &Noise, label: &str) -> String {
    let n = (noise.unit(label, 1) * (1u64 << 40) as f64) as u64;
    format!("0x00158d{n:010x}")
}

impl Plant {
    /// The plant of a decky: `site` names it in building-automation topics.
    pub fn new(noise: Noise, site: &str) -> Plant {
        let dialect = noise.pick("dialect", 3);
        let count = 4 + noise.pick("count", 5);
        let mut devices = Vec::new();
        let mut fixed = Vec::new();
        let mut rooms: Vec<&str> = ROOMS.to_vec();
        let take = |label: &str, list: &mut Vec<&'static str>| -> &'static str {
            let i = noise.pick(label, list.len());
            if list.is_empty() {
                "device"
            } else {
                list.remove(i.min(list.len() - 1))
            }
        };
        match dialect {
            0 => {
                fixed.push(Message::text(
                    "zigbee2mqtt/bridge/state",
                    r#"{"state":"online"}"#,
                ));
                for i in 0..count {
                    let room = take(&format!("z2m/{i}/room"), &mut rooms);
                    let label = format!("z2m/{i}");
                    let kind = if noise.unit(&label, 7) < 0.25 {
                        Kind::Contact
                    } else {
                        let base = if room == "server_room" || room == "it_closet" {
                            24.5
                        } else {
                            21.0
                        };
                        Kind::Climate {
                            temp: Curve {
                                base: base + noise.unit(&label, 2) * 1.5,
                                daily: 1.2,
                                jitter: 0.4,
                            },
                            humidity: Curve {
                                base: 38.0 + noise.unit(&label, 3) * 14.0,
                                daily: -4.0,
                                jitter: 2.0,
                            },
                        }
                    };
                    let name = if noise.unit(&label, 4) < 0.3 {
                        ieee(&noise, &label)
                    } else {
                        match kind {
                            Kind::Contact => format!("{room}_door"),
                            _ => format!("{room}_sensor"),
                        }
                    };
                    devices.push(Device {
                        topic: format!("zigbee2mqtt/{name}"),
                        kind,
                        label,
                    });
                }
            }
            1 => {
                let mut plugs: Vec<&str> = PLUGS.to_vec();
                for i in 0..count {
                    let what = take(&format!("tasmota/{i}/what"), &mut plugs);
                    let label = format!("tasmota/{i}");
                    let id = (noise.unit(&label, 5) * f64::from(0xFF_FFFFu32)) as u32;
                    let name = if noise.unit(&label, 6) < 0.5 {
                        format!("tasmota_{id:06X}")
                    } else {
                        format!("plug_{what}")
                    };
                    let watts = match what {
                        "heater" => 900.0,
                        "compressor" => 650.0,
                        "coffee_machine" => 80.0,
                        "printer" => 35.0,
                        _ => 120.0,
                    };
                    fixed.push(Message::text(format!("tele/{name}/LWT"), "Online"));
                    devices.push(Device {
                        topic: name,
                        kind: Kind::Plug {
                            watts: Curve {
                                base: watts * (0.8 + 0.4 * noise.unit(&label, 8)),
                                daily: watts * 0.3,
                                jitter: watts * 0.15,
                            },
                            since: 1_640_000_000 + (noise.unit(&label, 9) * 60_000_000.0) as i64,
                        },
                        label,
                    });
                }
            }
            _ => {
                let mut points: Vec<usize> = (0..POINTS.len()).collect();
                for i in 0..count {
                    let at = noise.pick(&format!("bms/{i}"), points.len());
                    if points.is_empty() {
                        break;
                    }
                    let p = points.remove(at.min(points.len() - 1));
                    let Some((area, dev, metric, curve, decimals)) = POINTS.get(p).copied() else {
                        continue;
                    };
                    devices.push(Device {
                        topic: format!("{site}/{area}/{dev}/{metric}"),
                        kind: Kind::Plain { curve, decimals },
                        label: format!("bms/{p}"),
                    });
                }
            }
        }
        Plant {
            noise,
            devices,
            fixed,
        }
    }

    /// How many devices publish (each is a connected client of the broker).
    pub fn devices(&self) -> usize {
        self.devices.len()
    }

    /// Every retained bait topic with its value at `now` (Unix seconds).
    pub fn retained(&self, now: i64) -> Vec<Message> {
        let mut out = self.fixed.clone();
        for d in &self.devices {
            out.extend(self.readings(d, now));
        }
        out
    }

    /// The readings published in update round `round` (one every
    /// [`super::sys::SENSOR_PERIOD`]): each device publishes every third round,
    /// staggered, so a subscriber sees a trickle rather than bursts.
    pub fn update(&self, now: i64, round: u64) -> Vec<Message> {
        self.devices
            .iter()
            .enumerate()
            .filter(|(i, _)| (*i as u64 + round).is_multiple_of(3))
            .flat_map(|(_, d)| self.readings(d, now))
            .collect()
    }

    fn readings(&self, d: &Device, now: i64) -> Vec<Message> {
        let n = &self.noise;
        let l = d.label.as_str();
        match &d.kind {
            Kind::Climate { temp, humidity } => {
                let t = temp.at(n, &format!("{l}/t"), now);
                let h = humidity.at(n, &format!("{l}/h"), now).clamp(5.0, 95.0);
                let p = 1013.0 + 9.0 * n.smooth(&format!("{l}/p"), now, 6 * 3600);
                let battery = 100 - (now.rem_euclid(400 * 86_400) / (5 * 86_400)).min(60);
                let link = 60 + (n.unit(l, now.div_euclid(60)) * 90.0) as i64;
                let voltage = 2900 + battery * 3;
                Vec::from([Message::text(
                    d.topic.clone(),
                    format!(
                        r#"{{"battery":{battery},"humidity":{},"linkquality":{link},"power_outage_count":{},"pressure":{},"temperature":{},"voltage":{voltage}}}"#,
                        round(h, 2),
                        1 + n.pick(&format!("{l}/outages"), 9),
                        round(p, 1),
                        round(t, 2)
                    ),
                )])
            }
            Kind::Contact => {
                let open = n.unit(l, now.div_euclid(600)) < 0.08;
                let link = 60 + (n.unit(l, now.div_euclid(60)) * 90.0) as i64;
                Vec::from([Message::text(
                    d.topic.clone(),
                    format!(
                        r#"{{"battery":{},"contact":{},"linkquality":{link},"voltage":3005}}"#,
                        91 + n.pick(&format!("{l}/batt"), 9),
                        !open
                    ),
                )])
            }
            Kind::Plug { watts, since } => {
                let w = watts.at(n, l, now).max(0.0);
                let volts = 229.0 + 4.0 * n.smooth(&format!("{l}/v"), now, 600);
                let amps = w / volts;
                let apparent = w * 1.08;
                let reactive = (apparent * apparent - w * w).max(0.0).sqrt();
                let days = (now - since).max(0) as f64 / 86_400.0;
                let total = watts.base * 24.0 * days / 1000.0 * 0.6;
                let today_h = now.rem_euclid(86_400) as f64 / 3600.0;
                let today = watts.base * today_h / 1000.0 * 0.6;
                let time = chrono::DateTime::from_timestamp(now, 0)
                    .unwrap_or_default()
                    .format("%Y-%m-%dT%H:%M:%S");
                let start = chrono::DateTime::from_timestamp(*since, 0)
                    .unwrap_or_default()
                    .format("%Y-%m-%dT%H:%M:%S");
                let uptime_s = (now - since).rem_euclid(40 * 86_400);
                let uptime = format!(
                    "{}T{:02}:{:02}:{:02}",
                    uptime_s / 86_400,
                    (uptime_s % 86_400) / 3600,
                    (uptime_s % 3600) / 60,
                    uptime_s % 60
                );
                let rssi = 40 + (n.unit(l, now.div_euclid(300)) * 45.0) as i64;
                Vec::from([
                    Message::text(
                        format!("tele/{}/STATE", d.topic),
                        format!(
                            r#"{{"Time":"{time}","Uptime":"{uptime}","UptimeSec":{uptime_s},"Heap":26,"SleepMode":"Dynamic","Sleep":50,"LoadAvg":19,"MqttCount":1,"POWER":"ON","Wifi":{{"AP":1,"SSId":"{}","Channel":6,"Mode":"11n","RSSI":{rssi},"Signal":{},"LinkCount":1,"Downtime":"0T00:00:04"}}}}"#,
                            d.topic.split('_').next().unwrap_or("iot"),
                            rssi / 2 - 100
                        ),
                    ),
                    Message::text(
                        format!("tele/{}/SENSOR", d.topic),
                        format!(
                            r#"{{"Time":"{time}","ENERGY":{{"TotalStartTime":"{start}","Total":{},"Yesterday":{},"Today":{},"Power":{},"ApparentPower":{},"ReactivePower":{},"Factor":0.93,"Voltage":{},"Current":{}}}}}"#,
                            round(total, 3),
                            round(watts.base * 24.0 / 1000.0 * 0.6, 3),
                            round(today, 3),
                            round(w, 0),
                            round(apparent, 0),
                            round(reactive, 0),
                            round(volts, 0),
                            round(amps, 3)
                        ),
                    ),
                ])
            }
            Kind::Plain { curve, decimals } => Vec::from([Message::text(
                d.topic.clone(),
                round(curve.at(n, l, now), *decimals),
            )]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plant(k: u8) -> Plant {
        Plant::new(Noise::new([k; 32]), "hq")
    }

    #[test]
    fn the_same_seed_gives_the_same_plant_and_readings_move_with_time() {
        let t = 1_750_000_000;
        assert_eq!(plant(1).retained(t), plant(1).retained(t));
        let now = plant(1).retained(t);
        let later = plant(1).retained(t + 1800);
        assert_eq!(
            now.iter().map(|m| &m.topic).collect::<Vec<_>>(),
            later.iter().map(|m| &m.topic).collect::<Vec<_>>()
        );
        assert_ne!(now, later, "readings change over half an hour");
        // Different deckies, different plants.
        let topics = |p: &Plant| {
            p.retained(t)
                .into_iter()
                .map(|m| m.topic)
                .collect::<Vec<_>>()
        };
        let all: Vec<Vec<String>> = (0..8).map(|k| topics(&plant(k))).collect();
        let mut uniq = all.clone();
        uniq.sort();
        uniq.dedup();
        assert!(uniq.len() >= 6, "{all:?}");
    }

    #[test]
    fn every_dialect_appears_and_readings_are_plausible() {
        let t = 1_750_000_000;
        let mut seen = [false; 3];
        for k in 0..40u8 {
            let p = plant(k);
            assert!((4..=8).contains(&p.devices()));
            for m in p.retained(t) {
                let text = String::from_utf8(m.payload).unwrap();
                if m.topic.starts_with("zigbee2mqtt/") {
                    seen[0] = true;
                    assert!(text.starts_with('{'), "{text}");
                } else if m.topic.starts_with("tele/") {
                    seen[1] = true;
                } else {
                    seen[2] = true;
                    assert!(m.topic.starts_with("hq/"));
                    let v: f64 = text.parse().unwrap();
                    assert!((-30.0..300.0).contains(&v), "{} {v}", m.topic);
                }
            }
            // Every device publishes within three rounds.
            let mut updated = 0;
            for r in 0..3 {
                updated += p.update(t, r).len();
            }
            assert_eq!(updated, p.retained(t).len() - p.fixed.len());
        }
        assert_eq!(seen, [true; 3]);
    }

    #[test]
    fn smooth_noise_stays_in_range_and_is_continuous() {
        let n = Noise::new([9; 32]);
        let mut last = n.smooth("x", 0, 900);
        for t in 1..5000 {
            let v = n.smooth("x", t, 900);
            assert!((-1.0..=1.0).contains(&v));
            assert!((v - last).abs() < 0.01, "jump at {t}");
            last = v;
        }
    }
}

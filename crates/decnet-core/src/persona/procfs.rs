//! `/proc` text as a Linux kernel prints it, for the machine a persona
//! describes: `cpuinfo` (every field, one block per CPU), `meminfo`,
//! `uptime`, `loadavg`, `self/cgroup`, `1/environ`.

/// The CPU a machine reports (a KVM guest on a real server CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuModel {
    /// `vendor_id`.
    pub vendor: &'static str,
    /// `cpu family`.
    pub family: u32,
    /// `model`.
    pub model: u32,
    /// `model name`.
    pub name: &'static str,
    /// `stepping`.
    pub stepping: u32,
    /// `microcode`.
    pub microcode: &'static str,
    /// `cpu MHz` (thousandths).
    pub mhz_milli: u64,
    /// `cache size` in KB.
    pub cache_kb: u32,
    /// `cpuid level`.
    pub cpuid_level: u32,
    /// `flags`.
    pub flags: &'static str,
    /// `bugs`.
    pub bugs: &'static str,
    /// `bogomips` (hundredths).
    pub bogomips_centi: u64,
    /// `address sizes`.
    pub address_sizes: &'static str,
}

/// CPUs a decky may report; the seed picks one.
pub const CPU_MODELS: [CpuModel; 3] = [
    CpuModel {
        vendor: "GenuineIntel",
        family: 6,
        model: 85,
        name: "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz",
        stepping: 7,
        microcode: "0x5003604",
        mhz_milli: 2_095_078,
        cache_kb: 28_160,
        cpuid_level: 22,
        flags: "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch cpuid_fault invpcid_single ssbd ibrs ibpb stibp ibrs_enhanced fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid mpx avx512f avx512dq rdseed adx smap clflushopt clwb avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves arat pku ospke avx512_vnni md_clear arch_capabilities",
        bugs: "spectre_v1 spectre_v2 spec_store_bypass swapgs taa mmio_stale_data retbleed eibrs_pbrsb gds bhi",
        bogomips_centi: 419_015,
        address_sizes: "46 bits physical, 48 bits virtual",
    },
    CpuModel {
        vendor: "AuthenticAMD",
        family: 23,
        model: 49,
        name: "AMD EPYC 7702P 64-Core Processor",
        stepping: 0,
        microcode: "0x830107a",
        mhz_milli: 1_996_249,
        cache_kb: 512,
        cpuid_level: 16,
        flags: "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm rep_good nopl cpuid extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext perfctr_core ssbd ibrs ibpb stibp vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves clzero xsaveerptr wbnoinvd arat umip rdpid arch_capabilities",
        bugs: "sysret_ss_attrs null_seg spectre_v1 spectre_v2 spec_store_bypass retbleed smt_rsb srso",
        bogomips_centi: 399_249,
        address_sizes: "43 bits physical, 48 bits virtual",
    },
    CpuModel {
        vendor: "GenuineIntel",
        family: 6,
        model: 79,
        name: "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz",
        stepping: 1,
        microcode: "0xb000040",
        mhz_milli: 2_399_996,
        cache_kb: 35_840,
        cpuid_level: 13,
        flags: "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss syscall nx pdpe1gb rdtscp lm constant_tsc arch_perfmon rep_good nopl xtopology cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch cpuid_fault invpcid_single pti ssbd ibrs ibpb stibp fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid rtm rdseed adx smap xsaveopt arat md_clear flush_l1d arch_capabilities",
        bugs: "cpu_meltdown spectre_v1 spectre_v2 spec_store_bypass l1tf mds swapgs taa itlb_multihit mmio_stale_data bhi",
        bogomips_centi: 479_999,
        address_sizes: "46 bits physical, 48 bits virtual",
    },
];

/// `/proc/cpuinfo` for `cpus` CPUs of one model, every field as a KVM guest shows it.
pub fn cpuinfo(m: &CpuModel, cpus: u32) -> String {
    let mut s = String::new();
    let amd = m.vendor == "AuthenticAMD";
    for i in 0..cpus {
        s.push_str(&format!(
            "processor\t: {i}\nvendor_id\t: {}\ncpu family\t: {}\nmodel\t\t: {}\nmodel name\t: {}\nstepping\t: {}\nmicrocode\t: {}\ncpu MHz\t\t: {}.{:03}\ncache size\t: {} KB\nphysical id\t: 0\nsiblings\t: {cpus}\ncore id\t\t: {i}\ncpu cores\t: {cpus}\napicid\t\t: {i}\ninitial apicid\t: {i}\nfpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: {}\nwp\t\t: yes\nflags\t\t: {}\nbugs\t\t: {}\nbogomips\t: {}.{:02}\n",
            m.vendor,
            m.family,
            m.model,
            m.name,
            m.stepping,
            m.microcode,
            m.mhz_milli / 1000,
            m.mhz_milli % 1000,
            m.cache_kb,
            m.cpuid_level,
            m.flags,
            m.bugs,
            m.bogomips_centi / 100,
            m.bogomips_centi % 100,
        ));
        if amd {
            s.push_str("TLB size\t: 1024 4K pages\n");
        }
        s.push_str(&format!(
            "clflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: {}\npower management:\n\n",
            m.address_sizes
        ));
    }
    s
}

/// `/proc/meminfo` for a machine with `total_kb` of RAM, `free_kb` of it free.
pub fn meminfo(total_kb: u64, free_kb: u64, swap_kb: u64) -> String {
    let cached = total_kb / 4;
    let buffers = total_kb / 40;
    let avail = (free_kb + cached + buffers).min(total_kb);
    let active = total_kb / 5;
    let inactive = total_kb / 4;
    let rows: [(&str, u64); 51] = [
        ("MemTotal", total_kb),
        ("MemFree", free_kb),
        ("MemAvailable", avail),
        ("Buffers", buffers),
        ("Cached", cached),
        ("SwapCached", 0),
        ("Active", active),
        ("Inactive", inactive),
        ("Active(anon)", active / 4),
        ("Inactive(anon)", inactive / 8),
        ("Active(file)", active - active / 4),
        ("Inactive(file)", inactive - inactive / 8),
        ("Unevictable", 0),
        ("Mlocked", 0),
        ("SwapTotal", swap_kb),
        ("SwapFree", swap_kb),
        ("Zswap", 0),
        ("Zswapped", 0),
        ("Dirty", 84),
        ("Writeback", 0),
        ("AnonPages", active / 4 + inactive / 8),
        ("Mapped", total_kb / 30),
        ("Shmem", 1204),
        ("KReclaimable", total_kb / 50),
        ("Slab", total_kb / 30),
        ("SReclaimable", total_kb / 50),
        ("SUnreclaim", total_kb / 30 - total_kb / 50),
        ("KernelStack", 3088),
        ("PageTables", 4376),
        ("SecPageTables", 0),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("WritebackTmp", 0),
        ("CommitLimit", total_kb / 2 + swap_kb),
        ("Committed_AS", total_kb / 3),
        ("VmallocTotal", 34_359_738_367),
        ("VmallocUsed", 22_384),
        ("VmallocChunk", 0),
        ("Percpu", 1_488),
        ("HardwareCorrupted", 0),
        ("AnonHugePages", 0),
        ("ShmemHugePages", 0),
        ("ShmemPmdMapped", 0),
        ("FileHugePages", 0),
        ("FilePmdMapped", 0),
        ("Unaccepted", 0),
        ("HugePages_Total", 0),
        ("HugePages_Free", 0),
        ("HugePages_Rsvd", 0),
        ("HugePages_Surp", 0),
        ("Hugepagesize", 2048),
    ];
    let mut s = String::new();
    for (k, v) in rows {
        if k.starts_with("HugePages_") {
            s.push_str(&format!("{:<16}{v:>8}\n", format!("{k}:")));
        } else {
            s.push_str(&format!("{:<16}{v:>8} kB\n", format!("{k}:")));
        }
    }
    s.push_str(&format!(
        "Hugetlb:               0 kB\nDirectMap4k:      {:>8} kB\nDirectMap2M:     {:>9} kB\n",
        169_844,
        total_kb.saturating_sub(169_844) / 2048 * 2048
    ));
    s
}

/// `/proc/uptime` for `secs` seconds up on `cpus` mostly idle CPUs.
pub fn uptime(secs_centi: u64, cpus: u32) -> String {
    let idle = secs_centi * u64::from(cpus) * 97 / 100;
    format!(
        "{}.{:02} {}.{:02}\n",
        secs_centi / 100,
        secs_centi % 100,
        idle / 100,
        idle % 100
    )
}

/// `/proc/loadavg` for a quiet server.
pub fn loadavg(hundredths: [u32; 3], running: u32, total: u32, last_pid: u32) -> String {
    let [a, b, c] = hundredths;
    format!(
        "{}.{:02} {}.{:02} {}.{:02} {running}/{total} {last_pid}\n",
        a / 100,
        a % 100,
        b / 100,
        b % 100,
        c / 100,
        c % 100
    )
}

/// `/proc/self/cgroup` of a login shell (cgroup v2 on systemd releases, v1 on EL7).
pub fn self_cgroup(cgroup_v1: bool, uid: u32, session: u32) -> String {
    if cgroup_v1 {
        return format!(
            "11:cpuset:/\n10:memory:/user.slice\n9:devices:/user.slice\n8:pids:/user.slice\n7:blkio:/user.slice\n6:cpuacct,cpu:/user.slice\n5:hugetlb:/\n4:net_prio,net_cls:/\n3:freezer:/\n2:perf_event:/\n1:name=systemd:/user.slice/user-{uid}.slice/session-{session}.scope\n"
        );
    }
    format!("0::/user.slice/user-{uid}.slice/session-{session}.scope\n")
}

/// `/proc/1/environ` of systemd (NUL-separated, as the kernel keeps it).
pub fn init_environ() -> Vec<u8> {
    b"HOME=/\0init=/sbin/init\0NETWORK_SKIP_ENSLAVED=\0TERM=linux\0BOOT_IMAGE=/boot/vmlinuz\0drop_caps=\0PATH=/sbin:/usr/sbin:/bin:/usr/bin\0PWD=/\0rootmnt=/root\0".to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_has_one_block_per_cpu_with_every_field() {
        let m = &CPU_MODELS[0];
        let s = cpuinfo(m, 4);
        assert_eq!(s.matches("model name").count(), 4);
        assert_eq!(s.matches("\n\n").count(), 4);
        for f in [
            "microcode",
            "apicid",
            "bugs",
            "address sizes",
            "power management",
            "cpuid level",
            "wp",
        ] {
            assert!(s.contains(f), "{f}");
        }
        assert!(cpuinfo(&CPU_MODELS[1], 1).contains("TLB size"));
    }

    #[test]
    fn meminfo_and_uptime_read_like_the_kernel() {
        let m = meminfo(4_025_000, 1_300_000, 0);
        assert!(
            m.starts_with("MemTotal:        4025000 kB\nMemFree:         1300000 kB\n"),
            "{m}"
        );
        assert!(m.contains("HugePages_Total:       0\n"));
        assert_eq!(uptime(360_012, 2), "3600.12 6984.23\n");
        assert_eq!(
            loadavg([8, 3, 1], 1, 140, 2201),
            "0.08 0.03 0.01 1/140 2201\n"
        );
        assert_eq!(
            self_cgroup(false, 0, 3),
            "0::/user.slice/user-0.slice/session-3.scope\n"
        );
    }
}

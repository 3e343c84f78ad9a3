//! The `k8s` service driven by kubectl and curl.

use std::time::Duration;

use base64::Engine as _;
use decnet_core::{Event, EventType, SecretKind};
use serde_json::Value;

use crate::harness::{self, have, login_of, output, svc, unique_ip, Served};

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.test-planted.sig";

/// kube-apiserver's body for a request it cannot authenticate.
const UNAUTHORIZED: &str =
    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\
\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}\n";

async fn serve(name: &str, persona: &[(&str, &str)], data: &std::path::Path) -> Served {
    let mut p = vec![("k8s_token", TOKEN)];
    p.extend_from_slice(persona);
    // Redis beside it makes the world plant credentials on this decky.
    let d = harness::decky_in_world(
        name,
        &unique_ip(),
        data,
        vec![svc("k8s", &p), svc("redis", &[])],
    );
    harness::serve(d, "k8s").await
}

async fn curl(args: &[&str]) -> String {
    let mut c = tokio::process::Command::new("curl");
    c.args(["-sk", "-i", "--max-time", "10"]).args(args);
    String::from_utf8_lossy(&output(c).await.stdout).into_owned()
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn header_names(response: &str) -> Vec<&str> {
    response
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n))
        .collect()
}

fn kubectl(s: &Served, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("kubectl");
    let server = format!("https://{}", s.addr);
    c.env("KUBECONFIG", "/dev/null")
        .args([
            "--server",
            &server,
            "--token",
            TOKEN,
            "--insecure-skip-tls-verify",
            "--request-timeout",
            "15s",
        ])
        .args(args);
    c
}

async fn command(s: &mut Served, op: &str) -> Event {
    let op = op.to_owned();
    s.wait_for(WAIT, move |e| {
        e.event_type == EventType::Command && e.fields.get("op") == Some(&Value::from(op.as_str()))
    })
    .await
    .unwrap_or_else(|| panic!("no command event"))
}

#[tokio::test]
async fn anonymous_bad_token_and_planted_token_get_kube_apiservers_answers() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("kube", &[], dir.path()).await;
    let base = format!("https://{}", s.addr);
    // Anonymous: the public paths answer, the rest is RBAC's 403.
    let v = curl(&[&format!("{base}/version")]).await;
    assert!(v.starts_with("HTTP/1.1 200 OK\r\n"), "{v}");
    assert_eq!(
        header_names(&v),
        [
            "Audit-Id",
            "Cache-Control",
            "Content-Type",
            "X-Kubernetes-Pf-Flowschema-Uid",
            "X-Kubernetes-Pf-Prioritylevel-Uid",
            "Date",
            "Content-Length"
        ]
    );
    let version: Value = serde_json::from_str(body(&v)).unwrap();
    assert_eq!(version["gitVersion"], "v1.28.4");
    assert_eq!(version["goVersion"], "go1.20.11");
    assert!(body(&v).starts_with("{\n  \"major\": \"1\",\n  \"minor\": \"28\",\n"));
    let h = curl(&[&format!("{base}/healthz")]).await;
    assert_eq!(body(&h), "ok");
    let f = curl(&[&format!("{base}/api/v1/namespaces/default/pods")]).await;
    assert!(f.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{f}");
    let status: Value = serde_json::from_str(body(&f)).unwrap();
    assert_eq!(
        status["message"],
        "pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    assert_eq!(status["reason"], "Forbidden");
    // A token that is not planted: 401, before priority and fairness.
    let u = curl(&[
        "-H",
        "Authorization: Bearer not-the-one",
        &format!("{base}/api/v1/pods"),
    ])
    .await;
    assert!(u.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{u}");
    assert_eq!(body(&u), UNAUTHORIZED);
    assert_eq!(
        header_names(&u),
        [
            "Audit-Id",
            "Cache-Control",
            "Content-Type",
            "Date",
            "Content-Length"
        ]
    );
    let e = s
        .wait_for(WAIT, |e| {
            e.event_type == EventType::LoginAttempt && e.fields["success"] == false
        })
        .await
        .unwrap();
    assert_eq!(
        login_of(&e),
        (String::new(), b"not-the-one".to_vec(), SecretKind::Token)
    );
    // The planted token lists pods.
    let ok = curl(&[
        "-H",
        &format!("Authorization: Bearer {TOKEN}"),
        &format!("{base}/api/v1/pods"),
    ])
    .await;
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("\r\nTransfer-Encoding: chunked\r\n"), "{ok}");
    let e = s
        .wait_for(WAIT, |e| {
            e.event_type == EventType::LoginAttempt && e.fields["success"] == true
        })
        .await
        .unwrap();
    assert_eq!(login_of(&e).1, TOKEN.as_bytes());
}

#[tokio::test]
async fn without_anonymous_auth_no_credentials_is_401() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = serve("kube", &[("anonymous_auth", "false")], dir.path()).await;
    let u = curl(&[&format!("https://{}/api/v1/pods", s.addr)]).await;
    assert!(u.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{u}");
    assert_eq!(body(&u), UNAUTHORIZED);
}

#[tokio::test]
async fn kubectl_get_pods_and_secrets_with_the_planted_token() {
    if !have("kubectl") {
        eprintln!("skipped: no kubectl");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("kube", &[], dir.path()).await;
    let out = output(kubectl(&s, &["get", "pods", "-A"])).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("NAMESPACE"), "{text}");
    assert!(
        text.contains("kube-system") && text.contains("kube-apiserver-kube-host"),
        "{text}"
    );
    let e = s
        .wait_for(WAIT, |e| {
            e.event_type == EventType::HttpRequest && e.fields["path"] == "/api/v1/pods"
        })
        .await
        .unwrap();
    assert_eq!(
        login_of(&e),
        (String::new(), TOKEN.as_bytes().to_vec(), SecretKind::Token)
    );
    // Secrets hold the bait world's planted credentials.
    let out = output(kubectl(&s, &["get", "secrets", "-A", "-o", "json"])).await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let values: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| {
            i["data"]
                .as_object()
                .unwrap()
                .values()
                .cloned()
                .collect::<Vec<_>>()
        })
        .map(|v| {
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().unwrap())
                    .unwrap(),
            )
            .unwrap()
        })
        .collect();
    assert!(
        values.iter().any(|v| v == TOKEN),
        "the service-account secret holds the token"
    );
    let world = &s.decky.bait;
    assert!(!world.tokens().is_empty(), "the world plants credentials");
    for t in world.tokens().iter().take(1) {
        assert!(values.contains(&t.secret), "{} planted", t.principal);
        assert!(world
            .honeytoken(&t.principal, t.secret.as_bytes())
            .is_some());
    }
}

#[tokio::test]
async fn kubectl_run_and_exec_are_captured() {
    if !have("kubectl") {
        eprintln!("skipped: no kubectl");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("kube", &[], dir.path()).await;
    let out = output(kubectl(
        &s,
        &[
            "run",
            "pwn",
            "--image=alpine",
            "--restart=Never",
            "--",
            "id",
        ],
    ))
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.trim(), "pod/pwn created");
    let e = command(&mut s, "pod_create").await;
    assert_eq!(e.fields["images"], serde_json::json!(["alpine"]));
    assert_eq!(e.fields["argv"], serde_json::json!([["id"]]));
    assert_eq!(e.fields["pod"], "pwn");
    assert_eq!(e.fields["namespace"], "default");
    let out = output(kubectl(
        &s,
        &[
            "exec",
            "-n",
            "kube-system",
            "etcd-kube-host",
            "--",
            "cat",
            "/etc/kubernetes/pki/ca.key",
        ],
    ))
    .await;
    assert!(!out.status.success());
    let e = command(&mut s, "pod_exec").await;
    assert_eq!(
        e.fields["argv"],
        serde_json::json!(["cat", "/etc/kubernetes/pki/ca.key"])
    );
    assert_eq!(e.fields["pod"], "etcd-kube-host");
}

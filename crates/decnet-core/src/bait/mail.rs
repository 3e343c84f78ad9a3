//! The bait mailboxes: what a login sees on a decky that serves mail. Each
//! mailbox is built on demand from the world, so nothing is stored, and the
//! credentials in it are the world's registered honeytokens.

use base64::Engine as _;
use chrono::TimeZone as _;

use super::{Draw, Honeytoken, Host, Person, Planted, World};

const DAY: i64 = 86_400;

/// One message of a bait mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailMessage {
    /// Its UID in the mailbox (1-based, ascending with date).
    pub uid: u32,
    /// When it arrived (Unix seconds).
    pub date: i64,
    /// `From:` address.
    pub from: String,
    /// `To:` address.
    pub to: String,
    /// `Subject:`.
    pub subject: String,
    /// `Message-ID:` without the angle brackets.
    pub message_id: String,
    /// Whether it was already read (`\Seen`).
    pub seen: bool,
    /// Its attachments.
    pub attachments: Vec<Attachment>,
    /// The whole message as stored (RFC 5322, CRLF line ends).
    pub raw: Vec<u8>,
}

impl MailMessage {
    /// The document name a honeytoken planted in this message carries.
    pub fn document(&self, login: Option<&str>) -> String {
        document(&self.subject, login)
    }
}

/// An attachment of a bait message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

fn document(subject: &str, login: Option<&str>) -> String {
    match login {
        Some(l) => format!("mail \"{subject}\" to {l}"),
        None => format!("mail \"{subject}\""),
    }
}

/// The helpdesk account an IT notice on `mail` hands out: on another decky
/// with a login service (target, principal, password).
fn helpdesk<'w>(w: &'w World, mail: &Host) -> Option<(&'w Host, String, String)> {
    let targets: Vec<&Host> = w
        .hosts
        .iter()
        .filter(|h| h.decky != mail.decky && (h.runs("ssh") || h.runs("ftp")))
        .collect();
    let draw = w.draw();
    let t = targets.get(draw.num(&format!("helpdesk/{}/target", mail.decky), targets.len()))?;
    Some((
        t,
        "helpdesk".to_owned(),
        draw.password(&format!("helpdesk/{}", t.decky)),
    ))
}

/// The company-wide VPN account of the VPN notice.
fn vpn(w: &World) -> (String, String) {
    ("vpnaccess".to_owned(), w.draw().password("vpn"))
}

/// The account a person's welcome mail announces: on a login decky that is
/// not a mail decky, with a temporary password.
fn account_mail<'w>(w: &'w World, p: &Person) -> Option<(&'w Host, String)> {
    let host = p
        .accounts
        .iter()
        .filter_map(|a| w.host(a))
        .find(|h| h.mail_service().is_none() && h.runs_any(&super::LOGIN_SERVICES))?;
    Some((host, w.draw().password(&format!("account/{}", p.username))))
}

fn account_subject(host: &Host) -> String {
    format!("Your account on {}", host.hostname)
}

fn notice_subject(target: &Host) -> String {
    format!("Scheduled maintenance on {} this Saturday", target.hostname)
}

const VPN_SUBJECT: &str = "New VPN profile for remote access";

fn add_token(
    tokens: &mut Vec<Honeytoken>,
    principal: String,
    secret: String,
    valid_on: Vec<String>,
    at: Planted,
) {
    if let Some(t) = tokens
        .iter_mut()
        .find(|t| t.principal == principal && t.secret == secret)
    {
        t.planted.push(at);
        for d in valid_on {
            if !t.valid_on.contains(&d) {
                t.valid_on.push(d);
            }
        }
        return;
    }
    tokens.push(Honeytoken {
        principal,
        secret,
        valid_on,
        planted: vec![at],
    });
}

/// Registers every credential the mailboxes show.
pub(super) fn plant(w: &World, tokens: &mut Vec<Honeytoken>) {
    for h in w.hosts.iter() {
        let Some(service) = h.mail_service() else {
            continue;
        };
        let at = |document: String| Planted {
            decky: h.decky.clone(),
            service: service.to_owned(),
            document,
        };
        if let Some((target, user, pass)) = helpdesk(w, h) {
            add_token(
                tokens,
                user,
                pass,
                vec![target.decky.clone()],
                at(document(&notice_subject(target), None)),
            );
        }
        let (vu, vp) = vpn(w);
        add_token(tokens, vu, vp, Vec::new(), at(document(VPN_SUBJECT, None)));
        for p in w.people_on(&h.decky) {
            if let Some((host, pass)) = account_mail(w, p) {
                add_token(
                    tokens,
                    p.username.clone(),
                    pass,
                    vec![host.decky.clone()],
                    at(document(&account_subject(host), Some(&p.username))),
                );
            }
        }
    }
}

struct Draft {
    days_ago: i64,
    from_name: String,
    from: String,
    subject: String,
    body: String,
    attachments: Vec<Attachment>,
}

fn rfc2822(t: i64) -> String {
    chrono::Utc
        .timestamp_opt(t, 0)
        .single()
        .map(|d| d.format("%a, %d %b %Y %H:%M:%S +0000").to_string())
        .unwrap_or_default()
}

fn wrap76(b64: &str) -> String {
    let mut out = String::with_capacity(b64.len() + b64.len() / 38);
    let mut line = 0;
    for c in b64.chars() {
        out.push(c);
        line += 1;
        if line == 76 {
            out.push_str("\r\n");
            line = 0;
        }
    }
    if line > 0 {
        out.push_str("\r\n");
    }
    out
}

/// A one-page PDF whose text is `lines`: enough for `file` and a viewer.
fn pdf(lines: &[String]) -> Vec<u8> {
    let mut text = String::from("BT /F1 11 Tf 72 720 Td 14 TL\n");
    for l in lines {
        let esc = l
            .replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)");
        text.push_str(&format!("({esc}) '\n"));
    }
    text.push_str("ET\n");
    let objs = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{text}endstream", text.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn render(
    w: &World,
    mail: &Host,
    draw: &Draw<'_>,
    to_name: &str,
    to: &str,
    d: &Draft,
    uid: u32,
) -> MailMessage {
    let label = format!("msg/{}/{to}/{}", mail.decky, d.subject);
    let secs = i64::try_from(draw.num(&format!("{label}/secs"), 9 * 3_600)).unwrap_or(0);
    // Office hours: 08:00 plus up to nine hours.
    let day = (w.anchor.div_euclid(DAY) - d.days_ago) * DAY;
    let date = day + 8 * 3_600 + secs;
    let id = hex::encode(&draw.bytes(&format!("{label}/id"))[..12]);
    let qid = hex::encode_upper(&draw.bytes(&format!("{label}/qid"))[..5]);
    let message_id = format!("{id}@{}", w.domain);
    let fqdn = format!("{}.{}", mail.hostname, w.domain);
    let mut head = format!(
        "Return-Path: <{from}>\r\nDelivered-To: {to}\r\nReceived: from {fqdn} (localhost [127.0.0.1])\r\n\tby {fqdn} (Postfix) with ESMTP id {qid}\r\n\tfor <{to}>; {date}\r\nDate: {date}\r\nFrom: {from_name} <{from}>\r\nTo: {to_name} <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n",
        from = d.from,
        from_name = d.from_name,
        subject = d.subject,
        date = rfc2822(date),
    );
    let body = d.body.replace('\n', "\r\n");
    if d.attachments.is_empty() {
        head.push_str(
            "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
        );
        head.push_str(&body);
    } else {
        let boundary = format!("----=_Part_{}", &id[..16.min(id.len())]);
        head.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{body}\r\n"
        ));
        for a in &d.attachments {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&a.data);
            head.push_str(&format!(
                "--{boundary}\r\nContent-Type: {ct}; name=\"{f}\"\r\nContent-Disposition: attachment; filename=\"{f}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{data}",
                ct = a.content_type,
                f = a.filename,
                data = wrap76(&b64),
            ));
        }
        head.push_str(&format!("--{boundary}--\r\n"));
    }
    MailMessage {
        uid,
        date,
        from: d.from.clone(),
        to: to.to_owned(),
        subject: d.subject.clone(),
        message_id,
        // The newest few are unread, as in a mailbox someone is behind on.
        seen: d.days_ago > 2,
        attachments: d.attachments.clone(),
        raw: head.into_bytes(),
    }
}

/// The mailbox of `login` on `mail`.
pub(super) fn mailbox(w: &World, mail: &Host, login: &str) -> Vec<MailMessage> {
    let draw = w.draw();
    let person = w.person(login);
    let (to_name, to, first) = match person {
        Some(p) => (
            p.full_name.clone(),
            p.email.clone(),
            p.full_name.split(' ').next().unwrap_or("").to_owned(),
        ),
        None => {
            let local: String = login
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                .take(64)
                .collect();
            let local = if local.is_empty() {
                "user".to_owned()
            } else {
                local
            };
            (local.clone(), format!("{local}@{}", w.domain), local)
        }
    };
    let company = &w.company;
    let domain = &w.domain;
    // IT mail comes from an IT person other than the reader.
    let it = w
        .people
        .iter()
        .find(|p| p.it && Some(p.username.as_str()) != person.map(|x| x.username.as_str()));
    let (it_name, it_addr) = it.map_or_else(
        || ("IT Helpdesk".to_owned(), format!("helpdesk@{domain}")),
        |p| (p.full_name.clone(), p.email.clone()),
    );
    let hr = w.people.iter().find(|p| p.title == "HR Generalist");
    let (hr_name, hr_addr) = hr.map_or_else(
        || ("People Team".to_owned(), format!("hr@{domain}")),
        |p| (p.full_name.clone(), p.email.clone()),
    );
    let others: Vec<&Person> = w
        .people
        .iter()
        .filter(|p| Some(p.username.as_str()) != person.map(|x| x.username.as_str()))
        .collect();
    let colleague = others.get(draw.num(&format!("colleague/{login}"), others.len()));
    let (col_name, col_addr) = colleague.map_or_else(
        || ("Office Manager".to_owned(), format!("office@{domain}")),
        |p| (p.full_name.clone(), p.email.clone()),
    );
    let (vendor, vendor_addr) = words::VENDORS
        .get(draw.num("vendor", words::VENDORS.len()))
        .copied()
        .unwrap_or(("Apex Office Supply", "billing@apexofficesupply.com"));
    let inv = 10_000 + draw.num(&format!("invoice/{login}"), 90_000);
    let amount = 120 + draw.num(&format!("amount/{login}"), 4_800);
    let ticket = 1_000 + draw.num(&format!("ticket/{login}"), 9_000);
    let month = chrono::Utc
        .timestamp_opt(w.anchor - 27 * DAY, 0)
        .single()
        .map(|d| d.format("%B").to_string())
        .unwrap_or_default();

    let mut drafts = vec![
        Draft {
            days_ago: 34,
            from_name: hr_name.clone(),
            from: hr_addr.clone(),
            subject: format!("Welcome to {company}!"),
            body: format!("Hi {first},\n\nWelcome aboard! Your first week schedule is attached to the onboarding portal.\nPlease bring a photo ID to reception on Monday to pick up your badge.\n\nBest,\n{hr_name}\nPeople Team, {company}\n"),
            attachments: Vec::new(),
        },
        Draft {
            days_ago: 27,
            from_name: format!("{company} Communications"),
            from: format!("news@{domain}"),
            subject: format!("{company} monthly update - {month}"),
            body: format!("Hello everyone,\n\nThis month we welcomed four new colleagues, closed the quarter ahead of plan\nand moved the finance team to the second floor.\n\nReminder: the all-hands is on the last Friday of the month at 3pm.\n\n-- Internal Communications, {company}\n"),
            attachments: Vec::new(),
        },
        Draft {
            days_ago: 21,
            from_name: vendor.to_owned(),
            from: vendor_addr.to_owned(),
            subject: format!("Invoice INV-{inv} from {vendor}"),
            body: format!("Dear customer,\n\nPlease find attached invoice INV-{inv} for ${amount}.00, due within 30 days.\n\nThank you for your business,\n{vendor} Accounts Receivable\n"),
            attachments: vec![Attachment {
                filename: format!("INV-{inv}.pdf"),
                content_type: "application/pdf".to_owned(),
                data: pdf(&[
                    vendor.to_owned(),
                    format!("INVOICE INV-{inv}"),
                    format!("Bill to: {company}, Accounts Payable"),
                    format!("Amount due: USD {amount}.00"),
                    "Payment terms: net 30".to_owned(),
                ]),
            }],
        },
        Draft {
            days_ago: 18,
            from_name: col_name.clone(),
            from: col_addr.clone(),
            subject: "Team meeting moved to Thursday 10:00".to_owned(),
            body: format!("Hi all,\n\nThe weekly sync moves to Thursday 10:00 this week (room 2B).\n\nThanks,\n{col_name}\n"),
            attachments: Vec::new(),
        },
        Draft {
            days_ago: 15,
            from_name: it_name.clone(),
            from: it_addr.clone(),
            subject: "Reminder: complete security awareness training by Friday".to_owned(),
            body: format!("Hello,\n\nOur records show the annual security awareness training is still open for you.\nIt takes about 20 minutes. Never share your password by email or phone.\n\nThanks,\n{it_name}\nIT, {company}\n"),
            attachments: Vec::new(),
        },
        Draft {
            days_ago: 12,
            from_name: "Facilities".to_owned(),
            from: format!("facilities@{domain}"),
            subject: "Parking garage closed Monday".to_owned(),
            body: "Hi everyone,\n\nThe parking garage is closed on Monday for resurfacing. Street parking is\nreimbursed for the day: keep your receipt.\n\nFacilities\n".to_owned(),
            attachments: Vec::new(),
        },
        Draft {
            days_ago: 9,
            from_name: "Finance".to_owned(),
            from: format!("finance@{domain}"),
            subject: "Expense reports due end of month".to_owned(),
            body: "Hi,\n\nPlease submit this month's expense reports by the last working day.\nLate reports roll into next month's cycle.\n\nFinance\n".to_owned(),
            attachments: Vec::new(),
        },
        Draft {
            days_ago: 6,
            from_name: "Helpdesk".to_owned(),
            from: format!("helpdesk@{domain}"),
            subject: format!("[HELPDESK-{ticket}] Printer on 3rd floor not printing"),
            body: format!("Ticket HELPDESK-{ticket} has been updated.\n\nStatus: Resolved\nComment: toner replaced, the queue was cleared.\n\nReply to this mail to reopen the ticket.\n"),
            attachments: Vec::new(),
        },
        Draft {
            days_ago: 3,
            from_name: "IT Notifications".to_owned(),
            from: format!("noreply@{domain}"),
            subject: "Your password expires in 5 days".to_owned(),
            body: "Your network password expires in 5 days.\nChange it from any domain machine (Ctrl+Alt+Del, Change a password).\n\nThis is an automated message.\n".to_owned(),
            attachments: Vec::new(),
        },
        Draft {
            days_ago: 1,
            from_name: col_name.clone(),
            from: col_addr,
            subject: "Friday lunch: tacos".to_owned(),
            body: format!("Hey,\n\nOrdering tacos for Friday's lunch, reply by Thursday noon if you're in.\n\n{col_name}\n"),
            attachments: Vec::new(),
        },
    ];

    let (vu, vp) = vpn(w);
    drafts.push(Draft {
        days_ago: 24,
        from_name: it_name.clone(),
        from: it_addr.clone(),
        subject: VPN_SUBJECT.to_owned(),
        body: format!("Hi,\n\nThe VPN gateway moved to a new certificate. Import the attached profile in\nOpenVPN Connect and sign in with the shared remote-access account:\n\n  username: {vu}\n  password: {vp}\n\nIT, {company}\n"),
        attachments: vec![Attachment {
            filename: "remote.ovpn".to_owned(),
            content_type: "application/x-openvpn-profile".to_owned(),
            data: format!("client\ndev tun\nproto udp\nremote vpn.{domain} 1194\nresolv-retry infinite\nnobind\npersist-key\npersist-tun\nauth-user-pass\nremote-cert-tls server\ncipher AES-256-GCM\nverb 3\n").into_bytes(),
        }],
    });
    if let Some((target, user, pass)) = helpdesk(w, mail) {
        drafts.push(Draft {
            days_ago: 4,
            from_name: it_name.clone(),
            from: it_addr.clone(),
            subject: notice_subject(target),
            body: format!("Hi all,\n\n{host} ({ip}) will be patched and rebooted on Saturday between 22:00 and 02:00.\nIf your own login does not work afterwards, use the helpdesk account until we\nsort it out:\n\n  host:     {host}\n  username: {user}\n  password: {pass}\n\nPlease do not forward this mail.\n\n{it_name}\nIT, {company}\n",
                host = target.hostname,
                ip = target.ip,
            ),
            attachments: Vec::new(),
        });
    }
    if let Some((p, (host, pass))) = person.and_then(|p| account_mail(w, p).map(|a| (p, a))) {
        drafts.push(Draft {
            days_ago: 33,
            from_name: it_name.clone(),
            from: it_addr,
            subject: account_subject(host),
            body: format!("Hi {first},\n\nYour account on {h} ({ip}) is ready.\n\n  username: {u}\n  temporary password: {pass}\n\nPlease change it at first login (passwd).\n\n{it_name}\nIT, {company}\n",
                h = host.hostname,
                ip = host.ip,
                u = p.username,
            ),
            attachments: Vec::new(),
        });
    }
    drafts.sort_by_key(|d| std::cmp::Reverse(d.days_ago));
    drafts
        .iter()
        .zip(1u32..)
        .map(|(d, uid)| render(w, mail, &draw, &to_name, &to, d, uid))
        .collect()
}

use super::words;

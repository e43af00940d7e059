//! The session's parsing, and configure mode as a paste or an operator
//! drives it (without a server: schema commands never reach one).

use super::*;

#[test]
fn words_keep_quoted_text_and_path_predicates_whole() {
    assert_eq!(
        words(r#"commit confirmed 30 "new hub""#).expect("valid"),
        vec!["commit", "confirmed", "30", "new hub"]
    );
    assert_eq!(
        words("  set /if:interfaces/interface[name='my tun']/mtu 1400 ").expect("valid"),
        vec!["set", "/if:interfaces/interface[name='my tun']/mtu", "1400"]
    );
    assert_eq!(words("set x ''").expect("valid"), vec!["set", "x", ""]);
    assert!(words("commit \"unterminated").is_err());
}

#[test]
fn each_view_asks_for_what_it_shows() {
    let interface = "/ietf-interfaces:interfaces/interface";
    assert_eq!(
        nhrp_path("traffic").expect("a view"),
        format!(
            "{interface}/dmvpn-nhrp:nhrp/counters/message | \
             {interface}/dmvpn-nhrp:nhrp/counters/error | \
             {interface}/dmvpn-tunnel:tunnel/statistics"
        )
    );
    assert_eq!(
        nhrp_path("cache"),
        Some(format!("{interface}/dmvpn-nhrp:nhrp/cache-entry"))
    );
    assert_eq!(nhrp_path("bogus"), None);
    assert_eq!(
        crypto_path(),
        format!("{interface}/dmvpn-tunnel:tunnel/dmvpn-ipsec:protection")
    );
    assert!(dmvpn_path().starts_with(&format!("{interface}/dmvpn-tunnel:tunnel/peer | ")));
}

/// A hub as an operator would build it: an address, the tunnel, NHRP
/// with an NHS, multicast and a protected tunnel with its profile.
const HUB: &str = r#"{
  "ietf-interfaces:interfaces": {"interface": [{
    "name": "tun0",
    "description": "DMVPN hub",
    "type": "dmvpn-tunnel:mgre",
    "ietf-ip:ipv4": {"address": [{"ip": "10.0.0.1", "prefix-length": 24}]},
    "dmvpn-tunnel:tunnel": {"source-address": "192.0.2.1", "gre-key": 42,
      "dmvpn-ipsec:protection": {"profile": "dmvpn"}},
    "dmvpn-nhrp:nhrp": {
      "network-id": 1,
      "holding-time": 300,
      "redirect": true,
      "nhs": [{"protocol-address": "10.0.0.254", "nbma-address": "192.0.2.254"}],
      "multicast": {"dynamic": true, "nbma-address": ["192.0.2.9", "192.0.2.10"]}
    }
  }]},
  "dmvpn-ipsec:ipsec": {"profile": [{"name": "dmvpn", "ike": {
    "proposal": [{"sequence": 10, "encryption": ["aes-gcm-256"],
                  "group": ["modp-2048", "ecp-256"]}],
    "local-identity": {"fqdn": "hub.example.net"}
  }}]}
}"#;

fn offline_session() -> Session {
    // Never connected: the schema commands do not reach the server.
    let channel = tonic::transport::Endpoint::from_static("http://[::1]:9").connect_lazy();
    Session::new(Client::new(channel))
}

/// The configuration the candidate's edits give when libyang applies
/// them, as dmvpnd does, printed as JSON.
fn applied(candidate: &Candidate) -> String {
    use yang2::data::{Data, DataFormat, DataPrinterFlags, DataTree};
    let mut tree = DataTree::new(dmvpn_yang::context());
    for edit in &candidate.edits {
        assert_eq!(edit.kind(), dmvpn_api::v1::path_edit::Kind::Set, "{edit:?}");
        let value = (!edit.value.is_empty()).then_some(edit.value.as_str());
        tree.new_path(&edit.path, value, false)
            .expect("the edit applies");
    }
    tree.print_string(DataFormat::JSON, DataPrinterFlags::WITH_SIBLINGS)
        .expect("prints")
        .unwrap_or_default()
}

fn parsed(json: &str) -> String {
    use yang2::data::{
        Data, DataFormat, DataParserFlags, DataPrinterFlags, DataTree, DataValidationFlags,
    };
    let mut bytes = json.as_bytes().to_vec();
    bytes.push(0);
    DataTree::parse_string(
        dmvpn_yang::context(),
        bytes,
        DataFormat::JSON,
        DataParserFlags::STRICT | DataParserFlags::NO_VALIDATION,
        DataValidationFlags::empty(),
    )
    .expect("valid")
    .print_string(DataFormat::JSON, DataPrinterFlags::WITH_SIBLINGS)
    .expect("prints")
    .unwrap_or_default()
}

#[tokio::test]
async fn running_config_as_commands_pastes_back_to_the_same_config() {
    let hub: Value = serde_json::from_str(HUB).expect("JSON");
    for form in [Form::Hierarchical, Form::Flat] {
        let text = config_text::render(&hub, form);
        let mut session = offline_session();
        session.begin_configure(serde_json::json!({}));
        let mut out = String::new();
        for line in text.lines() {
            session
                .execute(line, &mut out)
                .await
                .unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        assert!(out.is_empty(), "{out}");
        // Every level closed: the paste ends where it began.
        assert_eq!(session.prompt(), "dmvpn(config)# ", "{text}");
        let candidate = session.candidate().expect("configure mode");
        assert_eq!(applied(candidate), parsed(HUB), "{form:?}:\n{text}");
        assert_eq!(
            config_text::render(&candidate.merged().expect("merges"), form),
            text
        );
    }
}

#[tokio::test]
async fn hierarchical_commands_walk_the_schema_with_abbreviations() {
    let mut session = offline_session();
    session.begin_configure(serde_json::json!({}));
    let mut out = String::new();
    for line in [
        "interf interface tun0",
        "ty mgre",
        "nh",
        "net 1",
        "ho 300",
        "exit",
        "ipv4 address 10.0.0.1 prefix-length 24",
        "top",
        "interfaces interface tun0 nhrp shortcut true",
    ] {
        session
            .execute(line, &mut out)
            .await
            .unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    assert_eq!(session.prompt(), "dmvpn(config)# ");
    let merged = session
        .candidate()
        .expect("configure")
        .merged()
        .expect("merges");
    assert_eq!(
        merged,
        serde_json::json!({"ietf-interfaces:interfaces": {"interface": [{
            "name": "tun0", "type": "dmvpn-tunnel:mgre",
            "dmvpn-nhrp:nhrp": {"network-id": 1, "holding-time": 300, "shortcut": true},
            "ietf-ip:ipv4": {"address": [{"ip": "10.0.0.1", "prefix-length": 24}]}
        }]}})
    );
    // The prompt says where configure mode stands.
    session
        .execute("interfaces interface tun0 nhrp", &mut out)
        .await
        .expect("enters");
    assert_eq!(session.prompt(), "dmvpn(config-interface-tun0-nhrp)# ");
    // `show` alone: the candidate below where configure mode stands.
    let mut shown = String::new();
    session.execute("show", &mut shown).await.expect("shows");
    assert_eq!(shown, "network-id 1\nholding-time 300\nshortcut true\n");
    session.execute("exit", &mut out).await.expect("up");
    assert_eq!(session.prompt(), "dmvpn(config-interface-tun0)# ");
    let error = session
        .execute("nhrp holding-time 0", &mut out)
        .await
        .expect_err("range");
    assert!(error.contains("holding-time"), "{error}");
    let error = session.execute("t", &mut out).await.expect_err("ambiguous");
    assert!(
        error.contains("top") && error.contains("type") && error.contains("tunnel"),
        "{error}"
    );
}

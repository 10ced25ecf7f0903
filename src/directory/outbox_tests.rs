//! The outbox's event ids and payloads, as applications receive them.

use super::*;
use crate::sync::admit::OffboardReason;
use orgsync_core::TeamRole;

#[test]
fn event_ids_are_24_hex_digits_in_write_order() {
    let mut ids = EventIds::starting(1_764_561_600_000, 0x0abc_def1);
    let drawn: Vec<String> = (0..1_000).map(|_| ids.next()).collect();
    for id in &drawn {
        let hex = id.strip_prefix("evt_").expect("evt_ prefix");
        assert_eq!(hex.len(), 24, "{id}");
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
    assert!(drawn.windows(2).all(|w| w[0] < w[1]), "not increasing");
    assert!(
        drawn[0].starts_with("evt_19ad"),
        "the time leads: {}",
        drawn[0]
    );
    // A later generator's ids sort after, whatever its random bits.
    let later = EventIds::starting(1_764_561_600_001, 0).next();
    assert!(later > drawn[999], "{later} <= {}", drawn[999]);
    // Two generators of the same millisecond differ in their random bits.
    let other = EventIds::starting(1_764_561_600_000, 0x0abc_def2).next();
    assert!(!drawn.contains(&other));
}

#[test]
fn event_ids_stay_unique_past_the_sequence() {
    let mut ids = EventIds::starting(7, 5);
    ids.sequence = (1 << EventIds::SEQUENCE_BITS) - 1;
    let (last, first_after) = (ids.next(), ids.next());
    assert_ne!(last, first_after);
    assert_eq!(last, "evt_000000000070000005ffffff");
    assert_eq!(first_after, "evt_000000000070000006000000");
}

/// What an application receives is the payload's text (signed as sent): every kind of
/// event, byte for byte, with sorted keys, escapes, `null`s and the user ids the apply
/// resolved (`9` is unknown to it, so its `user_id` is `null`).
#[test]
fn every_event_payload_is_written_exactly_as_applications_receive_it() {
    let ws = WorkspaceKey {
        id: 1,
        name: "acme".into(),
        provider: "github".into(),
        host: "api.github.com".into(),
    };
    let now = DateTime::from_timestamp(1_764_561_600, 123_456_000).expect("a time");
    let mut events = Events::new(&ws, now);
    let users: HashMap<String, i64> = [("1".to_string(), 7)].into();
    let bob =
        |from: &str, login: &str, name: Option<&str>, email: Option<&str>| Change::IdentityUpdate {
            user_id: 4,
            provider_user_id: "2".into(),
            from_login: from.into(),
            login: login.into(),
            name: name.map(Into::into),
            email: email.map(Into::into),
        };
    let changes = vec![
        Change::Onboard {
            provider_user_id: "1".into(),
            existing_user_id: None,
            login: "ann".into(),
            name: Some("Ann \"Zoë\" 🚀".into()),
            email: None,
            role: "member".into(),
        },
        Change::Reactivate {
            user_id: 3,
            provider_user_id: "2".into(),
            login: "bob".into(),
            role: "admin".into(),
        },
        Change::Offboard {
            user_id: 5,
            provider_user_id: "3".into(),
            login: "cy".into(),
            reason: OffboardReason::LeftAccount,
        },
        Change::RoleChange {
            user_id: 5,
            provider_user_id: "3".into(),
            login: "cy".into(),
            from: "member".into(),
            to: "admin".into(),
        },
        bob("bob", "rob", None, Some("r@x")),
        bob("rob", "rob", Some("Rob"), None),
        Change::TeamCreate {
            slug: "eng".into(),
            name: "Eng".into(),
            parent: None,
            provider_team_id: "9".into(),
        },
        Change::TeamUpdate {
            slug: "eng".into(),
            name: "Eng".into(),
            parent: Some("all".into()),
        },
        Change::TeamDelete { slug: "old".into() },
        Change::TeamMemberAdd {
            team: "eng".into(),
            provider_user_id: "1".into(),
            login: "ann".into(),
            role: TeamRole::Member,
        },
        Change::TeamMemberUpdate {
            team: "eng".into(),
            provider_user_id: "1".into(),
            login: "ann".into(),
            role: TeamRole::Maintainer,
        },
        Change::TeamMemberRemove {
            team: "eng".into(),
            provider_user_id: "9".into(),
            login: "zed".into(),
        },
        Change::RepositoryRemove { name: "web".into() },
    ];
    let payloads: Vec<String> = changes
        .iter()
        .filter_map(|c| events.row(c, &users).expect("a payload"))
        .map(|row| row.4)
        .collect();
    let expected = [
        r#"{"data":{"email":null,"login":"ann","name":"Ann \"Zoë\" 🚀","provider":"github","provider_user_id":"1","role":"member","state":"active","user_id":7,"workspace":"acme"},"timestamp":"2025-12-01T04:00:00.123Z","type":"member.onboarded"}"#,
        r#"{"data":{"login":"bob","provider":"github","provider_user_id":"2","role":"admin","state":"active","user_id":3,"workspace":"acme"},"timestamp":"2025-12-01T04:00:00.123Z","type":"member.reactivated"}"#,
        r#"{"data":{"login":"cy","provider":"github","provider_user_id":"3","reason":"left the account","state":"offboarded","user_id":5,"workspace":"acme"},"timestamp":"2025-12-01T04:00:00.123Z","type":"member.offboarded"}"#,
        r#"{"data":{"from":"member","login":"cy","provider":"github","provider_user_id":"3","role":"admin","user_id":5,"workspace":"acme"},"timestamp":"2025-12-01T04:00:00.123Z","type":"member.role_changed"}"#,
        r#"{"data":{"email":"r@x","from_login":"bob","login":"rob","name":null,"provider":"github","provider_user_id":"2","user_id":4,"workspace":"acme"},"timestamp":"2025-12-01T04:00:00.123Z","type":"member.renamed"}"#,
        r#"{"data":{"email":null,"from_login":"rob","login":"rob","name":"Rob","provider":"github","provider_user_id":"2","user_id":4,"workspace":"acme"},"timestamp":"2025-12-01T04:00:00.123Z","type":"member.updated"}"#,
        r#"{"data":{"name":"Eng","parent":null,"provider":"github","team":"eng","workspace":"acme"},"timestamp":"2025-12-01T04:00:00.123Z","type":"team.created"}"#,
        r#"{"data":{"name":"Eng","parent":"all","provider":"github","team":"eng","workspace":"acme"},"timestamp":"2025-12-01T04:00:00.123Z","type":"team.changed"}"#,
        r#"{"data":{"provider":"github","team":"old","workspace":"acme"},"timestamp":"2025-12-01T04:00:00.123Z","type":"team.deleted"}"#,
        r#"{"data":{"login":"ann","provider":"github","provider_user_id":"1","team":"eng","team_role":"member","user_id":7,"workspace":"acme"},"timestamp":"2025-12-01T04:00:00.123Z","type":"team.member_added"}"#,
        r#"{"data":{"login":"ann","provider":"github","provider_user_id":"1","team":"eng","team_role":"maintainer","user_id":7,"workspace":"acme"},"timestamp":"2025-12-01T04:00:00.123Z","type":"team.member_changed"}"#,
        r#"{"data":{"login":"zed","provider":"github","provider_user_id":"9","team":"eng","user_id":null,"workspace":"acme"},"timestamp":"2025-12-01T04:00:00.123Z","type":"team.member_removed"}"#,
    ];
    assert_eq!(
        payloads.len(),
        expected.len(),
        "one event per people or team change"
    );
    for (payload, expected) in payloads.iter().zip(expected) {
        assert_eq!(payload, expected);
    }
}

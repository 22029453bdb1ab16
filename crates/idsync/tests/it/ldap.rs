//! An LDAP directory (a real slapd) as a pull source from the command line: added over LDAPS with
//! the directory's CA, checked, looked up, read into the Jira simulator, changed in the directory
//! and read again (incrementally, then in full), and edited.

use serde_json::json;
use simulators::slapd::{GROUPS, PEOPLE, READER, Slapd};

use crate::harness::cli_env;
use crate::sync::{TOKEN_ENV, binding, groups, setup, wait};

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ldap_directory_reaches_jira_and_follows_its_changes() {
    let directory = Slapd::sample().unwrap();
    let s = setup("").await;
    let ca = directory.ca_file.display().to_string();
    let config = s.config.to_str().unwrap().to_string();
    let add = |url: &str, extra: &[&str]| {
        let mut args = vec![
            "--config",
            &config,
            "source",
            "add",
            "--kind",
            "ldap",
            "--name",
            "corp",
            "--url",
            url,
            "--user-base",
            PEOPLE,
            "--group-base",
            GROUPS,
            "--username",
            READER,
            "--password-env",
            TOKEN_ENV,
        ];
        args.extend_from_slice(extra);
        cli_env(s.dir.path(), &args, &[(TOKEN_ENV, "reader-secret")])
    };
    // The server's certificate is signed by a CA the system does not know: refused, and why.
    let refused = add(&directory.ldaps_url, &[]);
    assert!(!refused.status.success() && text(&refused).contains("--ca-file"), "{}", text(&refused));
    let out = add(&directory.ldaps_url, &["--ca-file", &ca, "--page-size", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    s.bind(&binding("corp", "jira", ""));
    let test = s.cli(&["source", "test", "corp"]);
    assert!(text(&test).contains("7 users under ou=people"), "{}", text(&test));
    let listed = text(&s.cli(&["source", "list"]));
    assert!(listed.contains(&format!("reads {}", directory.ldaps_url)), "{listed}");
    let ann = s.cli_json(&["source", "lookup", "corp", "alee"]);
    assert_eq!(ann["raw"]["mail"], "alee@example.com");
    assert!(ann["raw"]["entryuuid"].is_string(), "{ann}");
    assert_eq!(ann["mapped"]["userName"], "alee");
    assert_eq!(ann["mapped"]["externalId"], ann["raw"]["entryuuid"]);
    assert_eq!(ann["groups"], serde_json::json!(["devs", "jira-users"]));

    // A dry run reads everything and says what would happen, through the planner; nothing changes.
    let preview = s.cli_json(&["source", "sync", "corp", "--dry-run", "--json"]);
    assert_eq!(preview["source"]["users_created"], 7, "{preview}");
    let planned = preview["targets"][0]["ops"].as_array().map(Vec::len).unwrap_or(0);
    assert!(planned >= 6 + 4, "creates and memberships planned: {preview}");
    let text_preview = s.cli(&["source", "sync", "corp", "--dry-run"]);
    assert!(text(&text_preview).contains("alee"), "{}", text(&text_preview));
    assert!(s.data().user("alee").is_none(), "a dry run provisions nobody");
    let first = s.cli_json(&["source", "sync", "corp", "--json"]);
    assert_eq!((first["users_created"].as_u64(), first["groups_created"].as_u64()), (Some(7), Some(4)), "{first}");
    for count in ["users_created", "users_updated", "groups_created", "groups_updated", "users_deleted"] {
        assert_eq!(
            preview["source"][count], first[count],
            "the dry run counts {count} as the run does: {preview} {first}"
        );
    }
    assert!(first["groups_updated"].as_u64() > Some(0), "membership writes count: {first}");
    wait(10, "people and nested groups in Jira", || {
        groups(&s.data(), "alee") == ["devs", "jira-users"] && groups(&s.data(), "bkim") == ["jira-users", "platform"]
    })
    .await;
    assert!(s.data().user("cdiaz").is_none(), "a locked account is not created");

    directory
        .modify(&format!(
            "dn: uid=bkim,{PEOPLE}\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n\n\
             dn: cn=jira-users,{GROUPS}\nchangetype: modify\ndelete: member\nmember: uid=alee,{PEOPLE}\n\n\
             dn: uid=gnovak,{PEOPLE}\nchangetype: delete\n"
        ))
        .unwrap();
    // Only the changes are read, and the ids under the bases: the deleted gnovak is found too.
    let second = s.cli_json(&["source", "sync", "corp", "--json"]);
    assert_eq!(second["incremental"], true, "{second}");
    assert!(second["users_read"].as_u64().unwrap() < 7, "{second}");
    assert_eq!(second["users_deleted"].as_u64(), Some(1), "{second}");
    wait(10, "bkim and gnovak deactivated, alee out of jira-users", || {
        let jira = s.data();
        !jira.user("bkim").unwrap().active && !jira.user("gnovak").unwrap().active && groups(&jira, "alee") == ["devs"]
    })
    .await;
    // A full read (by hand here; daily on a schedule) heals any drift; nothing is left to find.
    let full = s.cli_json(&["source", "sync", "corp", "--full", "--json"]);
    assert_eq!((full["incremental"].as_bool(), full["users_deleted"].as_u64()), (Some(false), Some(0)), "{full}");

    let shown = text(&s.cli(&["source", "show", "corp"]));
    assert!(shown.contains("Reading:   changes since the last run; a full read at least every 1d"), "{shown}");

    // Run history: each pull with how it read, what it changed and how long it took.
    let runs = text(&s.cli(&["runs", "list"]));
    assert!(runs.contains("incremental read: ") && runs.contains("full read: 7 users, 4 groups"), "{runs}");
    let last = s.cli_json(&["runs", "list", "--json"])["items"].clone()[0]["id"].as_i64().unwrap();
    let shown = text(&s.cli(&["runs", "show", &last.to_string()]));
    assert!(shown.contains("took") && shown.contains("idsync log --source corp"), "{shown}");
    // What the target did after the first full read, until the next run, from the log.
    let runs = s.cli_json(&["runs", "list", "--json"])["items"].clone();
    let first_pull =
        runs.as_array().unwrap().iter().rev().find(|r| r["kind"] == "pull" && r["summary"]["users_created"] == 7);
    let shown = text(&s.cli(&["runs", "show", &first_pull.unwrap()["id"].to_string()]));
    assert!(shown.contains("target jira afterwards: ") && shown.contains(" applied"), "{shown}");

    let bad = s.cli(&["source", "edit", "corp", "--realm", "x"]);
    assert!(text(&bad).contains("--realm does not apply to ldap sources"), "{}", text(&bad));
    let edited = s.cli(&["source", "edit", "corp", "--only-group", &format!("cn=platform,{GROUPS}")]);
    assert!(edited.status.success(), "{}", text(&edited));
    let after_edit = s.cli_json(&["source", "show", "corp", "--json"]);
    // The edit changed what is read: the next run reads everything.
    assert_eq!(
        (after_edit["pull"]["incremental"].as_bool(), after_edit["pull"]["full_every"].as_str()),
        (Some(false), Some("1d"))
    );
    assert!(after_edit["pull"]["last_full_read"].is_string(), "{after_edit}");
    let shown = s.cli_json(&["source", "show", "corp", "--json"]);
    assert_eq!(shown["pull"]["connector"]["only_group"], json!([format!("cn=platform,{GROUPS}")]), "{shown}");
    assert_eq!(shown["pull"]["connector"]["page_size"], 2, "kept: {shown}");

    // Two scoping groups, and an attribute carried to a SCIM path.
    let platform = format!("cn=platform,{GROUPS}");
    let devs = format!("cn=devs,{GROUPS}");
    let args =
        ["source", "edit", "corp", "--only-group", &platform, "--only-group", &devs, "--attribute", "title=title"];
    let edited = s.cli(&args);
    assert!(edited.status.success(), "{}", text(&edited));
    let shown = s.cli_json(&["source", "show", "corp", "--json"]);
    assert_eq!(shown["pull"]["connector"]["only_group"], json!([platform, devs]), "{shown}");
    assert_eq!(shown["pull"]["connector"]["attributes"], json!({"title": "title"}), "{shown}");
    let bad = s.cli(&["source", "edit", "corp", "--attribute", "title"]);
    assert!(text(&bad).contains("is not ldapName=scim.path"), "{}", text(&bad));
    let bad = s.cli(&["source", "edit", "corp", "--page-size", "0"]);
    assert!(text(&bad).contains("--page-size must be at least 1"), "{}", text(&bad));
    let synced = s.cli_json(&["source", "sync", "corp", "--json"]);
    assert_eq!(synced["complete"], true, "{synced}");
}

//! The commented skeleton `kmlab new` writes.

/// A scenario skeleton titled `title`: one organisation, a root CA and KM server on one host,
/// two users, and the enrollment and messaging steps, every key explained.
pub fn skeleton(title: &str) -> String {
    let title = title.replace('\\', "\\\\").replace('"', "\\\"");
    SKELETON.replace("{title}", &title)
}

const SKELETON: &str = r#"# A kmlab scenario (language version 1). Run it with `kmlab run <this file>`;
# `kmlab check <this file>` only validates it. Every key is explained below;
# `kmlab rules` lists the rule IDs `covers` may name.
version = 1
title = "{title}"
covers = ["KM-07", "KM-08"]   # rule IDs this scenario exercises
seed = 1                      # every key, serial, token and IV derives from it
# start = "2001-03-01T09:00:00Z"   # when the virtual clock starts (this is the default)

# To run it under several settings at once (each step's `expect` must then hold in all of
# them), uncomment a matrix; the snapshot becomes the table of steps whose outcome differs.
# [matrix]
# "ca.ContosoRoot.validity_units" = [1, 2]
# "km.KM1.mode" = ["v1-and-v3", "v3-only"]

[organisation]
name = "Contoso"
mail_domain = "contoso.example"   # users get alias@mail_domain unless they set `email`

[[site]]
name = "Redmond"

[[host]]
name = "EXCH1"
os = "w2k"                 # "nt4" or "w2k"
domain = "CONTOSO"
installed = ["certificate-services", "web-enrollment-support"]   # and fixes, e.g. "Q262288"

[[ca]]
name = "ContosoRoot"       # at most 15 plain-ASCII characters for a 5.5 KM server
host = "EXCH1"
class = "standalone"       # "standalone" or "enterprise"
type = "root"              # "root" or "subordinate" (then also `parent`)
policy_module = "exchange-w2k"   # "standard", "legacy-exchange" or "exchange-w2k"
validity_period = "years"
validity_units = 2         # issued certificates last 2 years
lifetime = "5y"            # the CA's own certificate

[[km_server]]
name = "KM1"
host = "EXCH1"
product = "ex55"           # "ex55" or "ex2000"
service_pack = "sp3"
site = "Redmond"
ca = "ContosoRoot"

[[user]]
name = "alice"
site = "Redmond"
client = "outlook2000"     # outlook97, outlook98, outlook2000, outlook-express5, modern, thunderbird

[[user]]
name = "bob"
site = "Redmond"
client = "outlook2000"

# Steps run in order. `expect` is checked against the step's record: a bare outcome
# ("ok", "info", "warning", "refused", "error" for any error, "error c1031daf", "!ok" for
# anything but ok) or a table with `outcome`, `reason`, any detail the step records, and
# `not = { … }` for what the record must not show.

# The Exchange policy module revokes the KM server's own certificate right after issuing it;
# that is normal and reported as information (CA-11).
[[step]]
action = "enable-v3"
km_server = "KM1"
expect = { outcome = "info", reason = "km-certificate-revoked" }

[[step]]
action = "enable-user"
user = "alice"

[[step]]
action = "enroll"
user = "alice"
expect = { outcome = "ok", generation = "1" }

[[step]]
action = "enable-user"
user = "bob"

[[step]]
action = "enroll"
user = "bob"

[[step]]
action = "send"
from = "alice"
to = "bob"
subject = "Hello"
sign = "clear"
encrypt = true
cipher = "RC2-128-CBC"

[[step]]
action = "read"
user = "bob"
subject = "Hello"
expect = { outcome = "ok", signature = "verified", decrypted-with = "bob enc#1" }
"#;

# Every command, test and tag of the supported subset (robustness and fuzzing seed).
require ["fileinto", "envelope", "copy", "imap4flags", "vacation", "vacation-seconds",
         "date", "relational", "body", "variables", "mailbox",
         "comparator-i;ascii-numeric", "encoded-character"];
/* bracket
   comment */
set :lower :upperfirst "who" "${hex:41}NYONE";
set :quotewildcard :length "n" "a*b";
if header :matches "subject" "*present*" {
    set "what" "${2}";
    addflag "\\Seen";
} elsif address :domain :contains ["from", "sender"] "example" {
    setflag "f" "$Label1";
    removeflag "f" "$Label1";
} else {
    stop;
}
if anyof (envelope :localpart :is "from" "coyote",
          exists ["x-caffeine", "date"],
          not size :over 100K,
          header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5",
          address :count "gt" :comparator "i;ascii-numeric" ["to", "cc"] "2",
          body :content ["text", "multipart"] :contains "anvil",
          body :raw :matches "*cliff*",
          body :text :is "x",
          date :value "ge" :originalzone "date" "hour" "09",
          date :zone "+0100" :is "received" "weekday" "2",
          currentdate :zone "-0800" :value "le" "date" "2099-12-31",
          string :matches "${who}" "A*",
          hasflag :contains "seen",
          hasflag "f" "$x",
          mailboxexists ["Junk", "INBOX"],
          allof (true, not false)) {
    fileinto :copy :flags ["\\Flagged", "$Work"] :create "Archive/${what}";
    redirect :copy "<deputy@acme.example.com>";
    keep :flags "\\Answered";
    vacation :seconds 60 :subject "Away: ${what}" :from "Me <me@acme.example.com>"
        :addresses ["a@acme.example.com", "b@acme.example.com"] :mime :handle "h" text:
Content-Type: text/plain; charset=utf-8

Away.
..
.
;
}
if true { discard; }

#!/usr/bin/env python3
"""Writes a Thunderbird profile with one IMAP account on a mailstack listener.

Called by tests/tests/thunderbird.rs before it starts `thunderbird --headless --profile DIR`.
The profile holds:

- user.js: the account (IMAP on 127.0.0.1:PORT, plain or STARTTLS, cleartext password
  authentication, mbox store, keep-messages-offline so INBOX is downloaded into
  ImapMail/127.0.0.1/INBOX, IDLE and a one-minute new-mail check), and prefs that switch off
  first-run UI, updates, telemetry, add-on and remote-settings fetches and every other network
  connection that is not the account's;
- cert9.db/key4.db: an NSS database with an empty primary password (`certutil -N
  --empty-password`), and with --ca the generated mailstack CA imported as a trusted e-mail
  issuer (`certutil -A -t "C,,"`) for STARTTLS;
- logins.json: the account's password, encrypted the way Thunderbird's login manager does it,
  with NSS's secret decoder ring (PK11SDR_Encrypt) under the default key of that key4.db. Python
  has no NSS binding, so the system libnss3 (a dependency of libnss3-tools) is called through
  ctypes; the result is checked by decrypting it again with NSS's own `pwdecrypt` tool.

Prints "profile: ok" last on success.
"""

import argparse
import base64
import ctypes
import ctypes.util
import json
import os
import subprocess
import sys
import time
import uuid

HOST = "127.0.0.1"


def user_js(args):
    socket_type = 2 if args.starttls else 0  # nsMsgSocketType: 0 plain, 2 STARTTLS, 3 TLS
    prefs = {
        # The account: IMAP server1 with identity id1, plus Local Folders (server2).
        "mail.accountmanager.accounts": "account1,account2",
        "mail.accountmanager.defaultaccount": "account1",
        "mail.accountmanager.localfoldersserver": "server2",
        "mail.account.account1.identities": "id1",
        "mail.account.account1.server": "server1",
        "mail.account.account2.server": "server2",
        "mail.identity.id1.fullName": "Thunderbird Tester",
        "mail.identity.id1.useremail": args.user,
        "mail.identity.id1.valid": True,
        "mail.server.server1.type": "imap",
        "mail.server.server1.hostname": HOST,
        "mail.server.server1.port": args.port,
        "mail.server.server1.socketType": socket_type,
        "mail.server.server1.authMethod": 3,  # nsMsgAuthMethod::passwordCleartext
        "mail.server.server1.userName": args.user,
        "mail.server.server1.name": args.user,
        "mail.server.server1.directory-rel": "[ProfD]ImapMail/" + HOST,
        "mail.server.server1.storeContractID": "@mozilla.org/msgstore/berkeleystore;1",
        "mail.server.server1.login_at_startup": True,
        "mail.server.server1.check_new_mail": True,
        "mail.server.server1.check_time": 1,
        "mail.server.server1.download_on_biff": True,
        "mail.server.server1.offline_download": True,
        "mail.server.server1.autosync_offline_stores": True,
        "mail.server.server1.use_idle": True,
        "mail.server.server1.using_subscription": False,
        "mail.server.server2.type": "none",
        "mail.server.server2.hostname": "Local Folders",
        "mail.server.server2.userName": "nobody",
        "mail.server.server2.name": "Local Folders",
        "mail.server.server2.directory-rel": "[ProfD]Mail/Local Folders",
        "mail.server.server2.storeContractID": "@mozilla.org/msgstore/berkeleystore;1",
        "mail.serverDefaultStoreContractID": "@mozilla.org/msgstore/berkeleystore;1",
        "mail.server.default.offline_download": True,
        "mail.server.default.autosync_offline_stores": True,
        "mail.server.default.autosync_max_age_days": -1,
        "mail.imap.use_status_for_biff": True,
        "mail.startup.enabledMailCheckOnce": True,
        "mail.biff.play_sound": False,
        "mail.biff.show_alert": False,
        "mail.biff.show_tray_icon": False,
        "mail.biff.use_system_alert": False,
        "offline.startup_state": 0,  # always start online
        "offline.autoDetect": False,
        "network.online": True,
        "network.manage-offline-status": False,
        "mail.password_manager.enabled": True,
        "signon.rememberSignons": True,
        # No first-run UI.
        "mail.provider.enabled": False,
        "mail.shell.checkDefaultClient": False,
        "mail.spotlight.firstRunDone": True,
        "mail.winsearch.firstRunDone": True,
        "mailnews.start_page.enabled": False,
        "mailnews.start_page_override.mstone": "ignore",
        "mail.rights.override": True,
        "mail.inappnotifications.enabled": False,
        "mail.account.showaccountcentral": False,
        "browser.aboutConfig.showWarning": False,
        "general.warnOnAboutConfig": False,
        "mail.tabs.drawInTitlebar": False,
        "mail.phishing.detection.enabled": False,
        "mailnews.database.global.indexer.enabled": False,
        "mail.cloud_files.enabled": False,
        "calendar.integration.notify": False,
        "calendar.timezone.useSystemTimezone": True,
        "toolkit.startup.max_resumed_crashes": -1,
        "browser.shell.checkDefaultBrowser": False,
        # No updates, telemetry, crash reports, add-on or remote-settings fetches.
        "app.update.enabled": False,
        "app.update.auto": False,
        "app.update.checkInstallTime": False,
        "app.update.disabledForTesting": True,
        "extensions.update.enabled": False,
        "extensions.update.autoUpdateDefault": False,
        "extensions.getAddons.cache.enabled": False,
        "extensions.blocklist.enabled": False,
        "extensions.autoDisableScopes": 15,
        "datareporting.policy.dataSubmissionEnabled": False,
        "datareporting.healthreport.uploadEnabled": False,
        "toolkit.telemetry.enabled": False,
        "toolkit.telemetry.unified": False,
        "toolkit.telemetry.archive.enabled": False,
        "toolkit.telemetry.server": "",
        "browser.crashReports.unsubmittedCheck.enabled": False,
        "app.normandy.enabled": False,
        "app.shield.optoutstudies.enabled": False,
        "services.settings.server": "http://127.0.0.1:9/v1",
        "browser.safebrowsing.malware.enabled": False,
        "browser.safebrowsing.phishing.enabled": False,
        "browser.safebrowsing.downloads.enabled": False,
        "browser.safebrowsing.provider.google4.updateURL": "",
        "browser.safebrowsing.provider.mozilla.updateURL": "",
        "network.connectivity-service.enabled": False,
        "network.captive-portal-service.enabled": False,
        "network.dns.disablePrefetch": True,
        "network.prefetch-next": False,
        "network.http.speculative-parallel-limit": 0,
        "network.trr.mode": 5,  # no DNS over HTTPS
        "browser.region.network.url": "",
        "browser.region.update.enabled": False,
        "geo.enabled": False,
        "mailnews.auto_config_url": "",
        "mailnews.auto_config.fetchFromISP.enabled": False,
        "mailnews.auto_config.guess.enabled": False,
        "mailnews.mx_service_url": "",
        "security.OCSP.enabled": 0,
        "security.remote_settings.crlite_filters.enabled": False,
        "security.remote_settings.intermediates.enabled": False,
        "messenger.startup.action": 0,
        # Any HTTP(S) request still made goes to a closed loopback port, never the internet;
        # IMAP does not use an HTTP proxy.
        "network.proxy.type": 1,
        "network.proxy.http": "127.0.0.1",
        "network.proxy.http_port": 9,
        "network.proxy.ssl": "127.0.0.1",
        "network.proxy.ssl_port": 9,
        "network.proxy.share_proxy_settings": False,
        "network.proxy.no_proxies_on": "",
    }
    lines = []
    for key, value in prefs.items():
        lines.append(f"user_pref({json.dumps(key)}, {json.dumps(value)});")
    return "\n".join(lines) + "\n"


class SECItem(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_uint),
        ("data", ctypes.c_void_p),
        ("len", ctypes.c_uint),
    ]


def load_nss():
    name = ctypes.util.find_library("nss3") or "libnss3.so"
    try:
        nss = ctypes.CDLL(name)
    except OSError as e:
        sys.exit(f"profile: cannot load NSS ({name}): {e}; install libnss3-tools")
    nss.NSS_InitReadWrite.argtypes = [ctypes.c_char_p]
    nss.NSS_InitReadWrite.restype = ctypes.c_int
    nss.PK11_GetInternalKeySlot.restype = ctypes.c_void_p
    nss.PK11_NeedUserInit.argtypes = [ctypes.c_void_p]
    nss.PK11_NeedUserInit.restype = ctypes.c_int
    nss.PK11_InitPin.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    nss.PK11_InitPin.restype = ctypes.c_int
    nss.PK11_Authenticate.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    nss.PK11_Authenticate.restype = ctypes.c_int
    nss.PK11_FreeSlot.argtypes = [ctypes.c_void_p]
    nss.PK11SDR_Encrypt.argtypes = [
        ctypes.POINTER(SECItem),
        ctypes.POINTER(SECItem),
        ctypes.POINTER(SECItem),
        ctypes.c_void_p,
    ]
    nss.PK11SDR_Encrypt.restype = ctypes.c_int
    nss.SECITEM_ZfreeItem.argtypes = [ctypes.POINTER(SECItem), ctypes.c_int]
    nss.PORT_GetError.restype = ctypes.c_int
    nss.NSS_Shutdown.restype = ctypes.c_int
    return nss


def sdr_encrypt_all(profile, texts):
    """Encrypts each text with the profile's SDR key (created in key4.db on first use)."""
    nss = load_nss()
    if nss.NSS_InitReadWrite(("sql:" + profile).encode()) != 0:
        sys.exit(f"profile: NSS_InitReadWrite failed (NSS error {nss.PORT_GetError()})")
    try:
        slot = nss.PK11_GetInternalKeySlot()
        if not slot:
            sys.exit("profile: no NSS internal key slot")
        if nss.PK11_NeedUserInit(slot):
            nss.PK11_InitPin(slot, None, b"")
        if nss.PK11_Authenticate(slot, 1, None) != 0:
            sys.exit(f"profile: NSS authenticate failed (NSS error {nss.PORT_GetError()})")
        nss.PK11_FreeSlot(slot)
        out = []
        for text in texts:
            raw = text.encode()
            buf = ctypes.create_string_buffer(raw, len(raw))
            keyid = SECItem(0, None, 0)
            data = SECItem(0, ctypes.cast(buf, ctypes.c_void_p), len(raw))
            result = SECItem(0, None, 0)
            rv = nss.PK11SDR_Encrypt(ctypes.byref(keyid), ctypes.byref(data), ctypes.byref(result), None)
            if rv != 0:
                sys.exit(f"profile: PK11SDR_Encrypt failed (NSS error {nss.PORT_GetError()})")
            out.append(base64.b64encode(ctypes.string_at(result.data, result.len)).decode())
            nss.SECITEM_ZfreeItem(ctypes.byref(result), 0)
        return out
    finally:
        nss.NSS_Shutdown()


def run(*cmd, stdin=None):
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        sys.exit(f"profile: {' '.join(cmd)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return proc.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--profile", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--starttls", action="store_true")
    p.add_argument("--ca", help="CA certificate (PEM) to trust for STARTTLS")
    args = p.parse_args()
    with open(args.password_file) as f:
        password = f.read().strip("\n")

    profile = os.path.abspath(args.profile)
    os.makedirs(profile, exist_ok=True)
    with open(os.path.join(profile, "user.js"), "w") as f:
        f.write(user_js(args))

    db = "sql:" + profile
    run("certutil", "-N", "--empty-password", "-d", db)
    if args.ca:
        run("certutil", "-A", "-n", "mailstack-ca", "-t", "C,,", "-i", args.ca, "-d", db)
        listed = run("certutil", "-L", "-d", db)
        if "mailstack-ca" not in listed:
            sys.exit(f"profile: CA not in the NSS database:\n{listed}")

    enc_user, enc_pass = sdr_encrypt_all(profile, [args.user, password])
    # Round trip through NSS's own tool: pwdecrypt reads base64 SDR blobs on stdin.
    back = run("pwdecrypt", "-d", db, stdin=enc_user + "\n")
    if args.user not in back:
        sys.exit(f"profile: pwdecrypt does not give the user name back: {back!r}")

    origin = "imap://" + HOST  # nsMsgIncomingServer's password origin: scheme://host, no port
    now = int(time.time() * 1000)
    logins = {
        "nextId": 2,
        "logins": [
            {
                "id": 1,
                "hostname": origin,
                "httpRealm": origin,
                "formSubmitURL": None,
                "usernameField": "",
                "passwordField": "",
                "encryptedUsername": enc_user,
                "encryptedPassword": enc_pass,
                "guid": "{" + str(uuid.uuid4()) + "}",
                "encType": 1,
                "timeCreated": now,
                "timeLastUsed": now,
                "timePasswordChanged": now,
                "timesUsed": 1,
            }
        ],
        "potentiallyVulnerablePasswords": [],
        "dismissedBreachAlertsByLoginGUID": {},
        "version": 3,
    }
    with open(os.path.join(profile, "logins.json"), "w") as f:
        json.dump(logins, f)
    print("profile: ok", flush=True)


if __name__ == "__main__":
    main()

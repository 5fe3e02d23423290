// Debian's Chromium as every browser test here starts it, through playwright-core (no
// browser download). Playwright gives each launch a fresh, empty profile.

import { chromium } from "playwright-core";

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    // This machine's network is closed: keep Chromium from phoning home at start.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A virtual passkey authenticator (DevTools' WebAuthn domain) for `page`: one that keeps
 *  discoverable credentials and verifies its user, answering every ceremony at once.
 *  Returns the DevTools session and the authenticator's id. */
export async function addVirtualAuthenticator(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

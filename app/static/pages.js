// Tessera's hosted pages: the WebAuthn ceremony, and nothing else. Every page works
// without this script except passkeys. A form marked data-webauthn="get" or "create"
// posts its fields to its data-options URL for the WebAuthn options, asks the browser
// for an assertion or a new credential, puts the result (JSON) in the form's
// "credential" field, and submits the form as usual.
"use strict";

(() => {
  const decode = (s) => {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  };
  const encode = (buf) => {
    let s = "";
    for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const withIds = (list) => (list || []).map((c) => ({ ...c, id: decode(c.id) }));

  const creationOptions = (pk) => ({
    ...pk,
    challenge: decode(pk.challenge),
    user: { ...pk.user, id: decode(pk.user.id) },
    excludeCredentials: withIds(pk.excludeCredentials),
  });
  const requestOptions = (pk) => ({
    ...pk,
    challenge: decode(pk.challenge),
    allowCredentials: withIds(pk.allowCredentials),
  });

  const credentialJSON = (cred) => {
    const r = cred.response;
    const response = { clientDataJSON: encode(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = encode(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = encode(r.authenticatorData);
      response.signature = encode(r.signature);
      response.userHandle = r.userHandle ? encode(r.userHandle) : null;
    }
    return {
      id: cred.id,
      rawId: encode(cred.rawId),
      type: cred.type,
      response,
      clientExtensionResults: cred.getClientExtensionResults(),
    };
  };

  const words = (e) =>
    e && e.name === "NotAllowedError"
      ? "The passkey request was cancelled or timed out. Try again."
      : (e && e.message) || "Something went wrong. Try again.";

  for (const form of document.querySelectorAll("form[data-webauthn]")) {
    if (!window.PublicKeyCredential) continue;
    form.hidden = false;
    const error = form.querySelector("[data-error]");
    const button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      if (error) error.hidden = true;
      try {
        const res = await fetch(form.dataset.options, {
          method: "POST",
          body: new URLSearchParams(new FormData(form)),
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        const answer = await res.json().catch(() => ({}));
        if (!res.ok) throw new Error(answer.detail || `The server refused (${res.status}). Reload the page and try again.`);
        const cred =
          form.dataset.webauthn === "create"
            ? await navigator.credentials.create({ publicKey: creationOptions(answer.publicKey) })
            : await navigator.credentials.get({ publicKey: requestOptions(answer.publicKey) });
        if (answer.challenge_id && form.elements.challenge_id) {
          form.elements.challenge_id.value = answer.challenge_id;
        }
        form.elements.credential.value = JSON.stringify(credentialJSON(cred));
        form.submit();
      } catch (e) {
        if (error) {
          error.textContent = words(e);
          error.hidden = false;
        }
        button.disabled = false;
      }
    });
  }
})();

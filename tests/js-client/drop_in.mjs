// whatsapp-api-js against scrm's drop-in Cloud API endpoint (tests/tests/cloud_api.rs).
//
// The client is unchanged; its fetch is given through the library's own `ponyfill`
// hook, pointing graph.facebook.com at scrm (what a user behind a gateway does).
// Prints one JSON object: what each call returned.
//
//   node drop_in.mjs BASE_URL TOKEN PHONE_ID OPEN_CONTACT CLOSED_CONTACT

import { WhatsAppAPI } from "whatsapp-api-js";
import { Text, Reaction } from "whatsapp-api-js/messages";

const [base, token, phoneID, openTo, closedTo] = process.argv.slice(2);
const toScrm = (url, init) => fetch(url.replace("https://graph.facebook.com", base), init);

const wa = new WhatsAppAPI({
  token,
  secure: false,
  v: "v23.0",
  ponyfill: { fetch: toScrm },
});

const out = {};
out.text = await wa.sendMessage(phoneID, openTo, new Text("Your parcel left the warehouse"));
out.reaction = await wa.sendMessage(phoneID, openTo, new Reaction("wamid.in1", "📦"));
out.outside_window = await wa.sendMessage(phoneID, closedTo, new Text("Hello again"));
out.read = await wa.markAsRead(phoneID, "wamid.in1");
console.log(JSON.stringify(out));

// Runs Replicon's Node.js example (its file, unchanged) against keyport's
// data API. Only the transport is keyport's: this stands in for axios and
// for the values of Replicon's information packet, mapping the example's
// two calls onto keyport's import-request API:
//   PUT  /import-key-request -> POST /api/v1/import-requests (body: $KEYPORT_REQUEST)
//   POST /import-key         -> POST /api/v1/import-requests/{id}/upload
// and "Authorization: ApiKey T" onto keyport's "Bearer T". The key
// generation and the wrapping (crypto.publicEncrypt) are the example's own.
// Prints {"ok": answer} or {"error": answer} as JSON.
const crypto = require("crypto");
const fs = require("fs");

const config = { EXTERNAL_API_URL: process.env.KEYPORT_URL };
const eid = "keyport";
const apiKey = process.env.KEYPORT_TOKEN;

let requestID = "";
const axios = {
  create: ({ headers }) => {
    const auth = headers.authorization.replace(/^ApiKey /, "Bearer ");
    const call = async (path, body) => {
      const res = await fetch(process.env.KEYPORT_URL + path, {
        method: "POST", headers: { authorization: auth, "content-type": "application/json" }, body: JSON.stringify(body) });
      const data = await res.json();
      if (!res.ok) {
        const err = new Error("keyport answered " + res.status);
        err.response = { status: res.status, data };
        throw err;
      }
      return { status: res.status, data };
    };
    return {
      put: async (path) => {
        if (path !== "/import-key-request") throw new Error("unexpected PUT " + path);
        const r = await call("/api/v1/import-requests", JSON.parse(process.env.KEYPORT_REQUEST));
        requestID = r.data.id;
        return { status: r.status, data: { publicKey: r.data.public_key, importToken: r.data.import_token, wrapping: r.data.wrapping } };
      },
      post: async (path, body) => {
        if (path !== "/import-key") throw new Error("unexpected POST " + path);
        const r = await call("/api/v1/import-requests/" + requestID + "/upload", { import_token: body.importToken, wrapped_key: body.keyMaterial });
        return { status: r.status, data: { status: r.data.operation, id: r.data.key_id, fingerprint: r.data.fingerprint } };
      },
    };
  },
};

const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const example = fs.readFileSync(process.argv[2], "utf8");
const run = new AsyncFunction("axios", "config", "eid", "apiKey", "crypto", example + "\nreturn { respPost: respPost.data, keyMaterial: keyMaterial.toString('base64') };");
run(axios, config, eid, apiKey, crypto).then(
  (out) => console.log(JSON.stringify({ ok: out })),
  (err) => { console.log(JSON.stringify({ error: err.response ? err.response.data : String(err) })); process.exitCode = 2; });

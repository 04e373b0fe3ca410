# Step 3, keyport: make an import request ($request is its JSON body, e.g.
# {"store_id":"kst_...","key_name":"replicon","wrapping":"RSAES_OAEP_SHA_1"}
# for a new key, or {"key_id":"key_...","wrapping":"RSAES_OAEP_SHA_1"} to
# re-import a key's material from your backup). RSAES_OAEP_SHA_1 is the
# wrapping of Step 4's `openssl rsautl -encrypt -oaep`. Pull the public key
# and the import token out of the answer, as Replicon's Step 3 does.
curl --fail -s -X POST -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
  -d "$request" $endpoint/api/v1/import-requests > importreq.json
cat importreq.json | jq -r '.public_key' > publickey.crt
importid="$(cat importreq.json | jq -r '.id')"
importtoken="$(cat importreq.json | jq -r '.import_token')"

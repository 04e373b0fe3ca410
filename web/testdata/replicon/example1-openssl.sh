# The information packet provided by Replicon will provide these three values:

# Enterprise API key:

apikey="1234-abcde-987"

# Enterprise short identifier:

enterpriseid="dave"

# Replicon's API endpoint; a different staging/test environment may be

# provided for initial development purposes

endpoint="https://global.replicon.com"

# Step 1: Generate the encryption key that will be imported into Replicon

# - typically an enterprise's HSM or other key management systems will be used

# - this demo workflow creates a key using openssl's keygen capabilities

# - in this workflow, we avoid the key ever hitting disk unencrypted; a

#   password-based AES encryption is used to protect the key while on disk

# - the created encryption key must be backed up, and able to be restored

# - please don't really use password "RepliconRocks"; you can do better

openssl rand 32 | \

  openssl enc -aes-256-cbc -pass pass:RepliconRocks -md sha1 | \

  base64 > secure-key.b64

# Step 2: Backup and safely store the encryption key

# Maintaining availability of this encryption key is the responsibility

# of the key importer.  In unlikely circumstances, Replicon may lose this

# key and it may need to be re-imported to maintain data access.

# Step 3: Invoke a Replicon API to start a key import process

# We also pull the "publicKey" and "importToken" out of the response

# for later usage.

curl --fail -X PUT -d "" -H "Authorization: ApiKey $apikey"  \

  $endpoint/\!/ems/enterprises/$enterpriseid/cmk/import-key-request > \

  importreq.json
cat importreq.json | jq -r '.publicKey' > publickey.crt

importtoken="$(cat importreq.json| jq -r '.importToken')"

# Step 4: Re-encrypt the encryption key with the public key from the import

# request to secure it while in-transit to Replicon's services
cat secure-key.b64 | \

  base64 -d | \

  openssl enc -d -aes-256-cbc -pass pass:RepliconRocks -md sha1 | \

  openssl rsautl -encrypt -oaep -inkey publickey.crt -pubin | \

  base64 > secure-key-import-ready.b64

# Step 5: Complete key import by uploading the import token and the

# encrypted secure key.

curl --fail -H "Authorization: ApiKey $apikey" \

  -H "Content-Type: application/json" \

  $endpoint/\!/ems/enterprises/$enterpriseid/cmk/import-key \

  -d '{"importToken":"'$importtoken'","keyMaterial":"'$(cat secure-key-import-ready.b64)'"}'

# Step 6: Cleanup intermediate files, leaving only secure-key.b64

rm importreq.json publickey.crt secure-key-import-ready.b64

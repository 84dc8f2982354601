package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
)

// EC keys (some issuers publish ES256) parse back to the same public key, and
// a point off the curve is refused.
func TestParseECJWK(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		priv, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		point, err := priv.PublicKey.Bytes() // 0x04‖X‖Y
		if err != nil {
			t.Fatal(err)
		}
		size := (curve.Params().BitSize + 7) / 8
		enc := base64.RawURLEncoding.EncodeToString
		raw, _ := json.Marshal(map[string]string{"kty": "EC", "kid": "k1", "crv": curve.Params().Name,
			"x": enc(point[1 : 1+size]), "y": enc(point[1+size:])})
		k, err := parseJWK(raw)
		if err != nil {
			t.Fatalf("%s: %v", curve.Params().Name, err)
		}
		if pub, ok := k.key.(*ecdsa.PublicKey); !ok || !pub.Equal(&priv.PublicKey) {
			t.Fatalf("%s: parsed key differs", curve.Params().Name)
		}
		bad, _ := json.Marshal(map[string]string{"kty": "EC", "kid": "k2", "crv": curve.Params().Name,
			"x": enc(point[1 : 1+size]), "y": enc(point[1 : 1+size])})
		if _, err := parseJWK(bad); err == nil {
			t.Fatalf("%s: a point off the curve was accepted", curve.Params().Name)
		}
	}
}

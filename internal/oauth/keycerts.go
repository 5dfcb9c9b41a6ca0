package oauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// KeyCertLifetime is the validity of a signing key's certificate.
const KeyCertLifetime = 10 * 365 * 24 * time.Hour

// Certificate returns k's self-signed X.509 certificate (what Auth0 shows
// as a signing key's cert and publishes in the JWKS as x5c). It is made
// from the key and its stored fields only — subject the issuer's host,
// serial from the kid, valid from its creation, a deterministic signature
// (PKCS #1 v1.5, or ECDSA per RFC 6979) — so
// every node makes the same one; each node makes it once per key.
func (m *KeyManager) Certificate(k store.SigningKey) (*x509.Certificate, error) {
	m.mu.RLock()
	c := m.certs[k.KID]
	m.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	priv, err := m.private(k)
	if err != nil {
		return nil, err
	}
	serial := sha256.Sum256([]byte("signing-key-cert:" + k.KID))
	serial[0] &= 0x7f // positive
	name := pkix.Name{CommonName: m.issuerHost()}
	from := k.CreatedAt.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(serial[:16]),
		Subject:               name,
		Issuer:                name,
		NotBefore:             from,
		NotAfter:              from.Add(KeyCertLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	signer := priv
	if ec, ok := priv.(*ecdsa.PrivateKey); ok {
		tmpl.SignatureAlgorithm = x509.ECDSAWithSHA256
		signer = deterministic{ec}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("certificate of signing key %s: %w", k.KID, err)
	}
	if c, err = x509.ParseCertificate(der); err != nil {
		return nil, fmt.Errorf("certificate of signing key %s: %w", k.KID, err)
	}
	m.mu.Lock()
	if prev := m.certs[k.KID]; prev != nil {
		c = prev // made meanwhile by another caller: keep one
	} else {
		m.certs[k.KID] = c
	}
	m.mu.Unlock()
	return c, nil
}

// deterministic signs with an ECDSA key without randomness (RFC 6979),
// so that every node makes the same certificate for an EC key, as PKCS #1
// v1.5 does for an RSA key.
type deterministic struct{ *ecdsa.PrivateKey }

func (d deterministic) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return d.PrivateKey.Sign(nil, digest, opts)
}

// thumbprint is the SHA-1 digest of the certificate's DER.
func thumbprint(c *x509.Certificate) []byte {
	sum := sha1.Sum(c.Raw)
	return sum[:]
}

// CertFingerprint is Auth0's fingerprint of a certificate: its SHA-1
// digest in upper-case hex pairs separated by colons.
func CertFingerprint(c *x509.Certificate) string {
	h := strings.ToUpper(hex.EncodeToString(thumbprint(c)))
	pairs := make([]string, 0, len(h)/2)
	for i := 0; i < len(h); i += 2 {
		pairs = append(pairs, h[i:i+2])
	}
	return strings.Join(pairs, ":")
}

// CertThumbprint is Auth0's thumbprint of a certificate: its SHA-1 digest
// in upper-case hex.
func CertThumbprint(c *x509.Certificate) string {
	return strings.ToUpper(hex.EncodeToString(thumbprint(c)))
}

// CertPEM is the certificate as Auth0 sends it: PEM with CRLF line ends
// and no line end after the last line.
func CertPEM(c *x509.Certificate) string {
	return armor("CERTIFICATE", c.Raw)
}

// CertPKCS7 is the certificate in a PKCS #7 (RFC 2315) certificates-only
// SignedData — what `openssl crl2pkcs7 -nocrl` makes — armored as Auth0
// sends it.
func CertPKCS7(c *x509.Certificate) (string, error) {
	der, err := pkcs7CertsOnly(c.Raw)
	if err != nil {
		return "", err
	}
	return armor("PKCS7", der), nil
}

// armor is PEM with CRLF line ends and no final line end.
func armor(label string, der []byte) string {
	b64 := base64.StdEncoding.EncodeToString(der)
	lines := []string{"-----BEGIN " + label + "-----"}
	for len(b64) > 64 {
		lines = append(lines, b64[:64])
		b64 = b64[64:]
	}
	if b64 != "" {
		lines = append(lines, b64)
	}
	lines = append(lines, "-----END "+label+"-----")
	return strings.Join(lines, "\r\n")
}

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
)

// pkcs7CertsOnly encodes
//
//	ContentInfo { signedData, [0] SignedData {
//	    version 1, digestAlgorithms {}, contentInfo { data },
//	    certificates [0] IMPLICIT { cert }, signerInfos {} } }
func pkcs7CertsOnly(cert []byte) ([]byte, error) {
	emptySet := asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true}
	signed := struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		ContentInfo      struct{ ContentType asn1.ObjectIdentifier }
		Certificates     asn1.RawValue
		SignerInfos      asn1.RawValue
	}{
		Version:          1,
		DigestAlgorithms: emptySet,
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: cert},
		SignerInfos:      emptySet,
	}
	signed.ContentInfo.ContentType = oidData
	inner, err := asn1.Marshal(signed)
	if err != nil {
		return nil, fmt.Errorf("encode PKCS #7: %w", err)
	}
	outer := struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue
	}{oidSignedData, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}}
	der, err := asn1.Marshal(outer)
	if err != nil {
		return nil, fmt.Errorf("encode PKCS #7: %w", err)
	}
	return der, nil
}

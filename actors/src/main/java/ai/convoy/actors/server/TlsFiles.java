package ai.convoy.actors.server;

import ai.convoy.runtime.ConvoyException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Collection;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

/** The server's TLS identity from PEM files: a certificate chain and its PKCS#8 private key (RSA or EC). */
public final class TlsFiles {
    private static final String KEY_BEGIN = "-----BEGIN PRIVATE KEY-----";
    private static final String KEY_END = "-----END PRIVATE KEY-----";

    private TlsFiles() {
    }

    /** An SSL context serving the certificate with the key; a file that is missing or not what it should be is one line. */
    public static SSLContext serverContext(Path certificate, Path key) {
        Certificate[] chain = certificates(certificate);
        PrivateKey privateKey = privateKey(key);
        try {
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            char[] password = new char[0];
            store.setKeyEntry("convoy", privateKey, password, chain);
            KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keys.init(store, password);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(keys.getKeyManagers(), null, null);
            return context;
        } catch (GeneralSecurityException | IOException e) {
            throw ConvoyException.in(key, "the key does not go with the certificate " + certificate + ": " + e.getMessage());
        }
    }

    static Certificate[] certificates(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            Collection<? extends Certificate> chain = CertificateFactory.getInstance("X.509").generateCertificates(in);
            if (chain.isEmpty()) {
                throw ConvoyException.in(file, "no certificate in the file (--tls-cert takes PEM)");
            }
            return chain.toArray(Certificate[]::new);
        } catch (IOException e) {
            throw ConvoyException.in(file, "cannot read the certificate: " + e.getMessage());
        } catch (GeneralSecurityException e) {
            throw ConvoyException.in(file, "not a PEM certificate (--tls-cert): " + e.getMessage());
        }
    }

    private static PrivateKey privateKey(Path file) {
        String pem;
        try {
            pem = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw ConvoyException.in(file, "cannot read the key: " + e.getMessage());
        }
        int begin = pem.indexOf(KEY_BEGIN);
        int end = pem.indexOf(KEY_END);
        if (begin < 0 || end < begin) {
            throw ConvoyException.in(file, "not an unencrypted PKCS#8 PEM key (--tls-key); convert one with "
                    + "openssl pkcs8 -topk8 -nocrypt -in KEY -out key.pem");
        }
        byte[] der = Base64.getMimeDecoder().decode(pem.substring(begin + KEY_BEGIN.length(), end));
        for (String algorithm : new String[] {"RSA", "EC"}) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException tryNext) {
                // the next algorithm
            }
        }
        throw ConvoyException.in(file, "the key is neither RSA nor EC");
    }
}

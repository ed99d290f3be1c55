import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.KeyStore;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * A Java TLS client that reads only rctl's PKCS#12 output, as its keystore and its truststore
 * alike (what -Djavax.net.ssl.keyStore and -Djavax.net.ssl.trustStore would both name), and
 * sends RESP AUTH and PING over a new connection, loading the file again each time.
 *
 * Usage: java RctlPing P12 PASSPHRASE_FILE PORT [STOP_FILE]
 * The account and its password come from RCTL_TEST_USER and RCTL_TEST_PASSWORD (never argv).
 * Without STOP_FILE: one connection, exit 0 on PONG. With it: a new connection about every
 * 100 ms until STOP_FILE exists, then "connections N failures F" on stdout, each failure on
 * stderr.
 */
public final class RctlPing {
    public static void main(String[] args) throws Exception {
        Path p12 = Paths.get(args[0]);
        char[] pass = Files.readAllLines(Paths.get(args[1])).get(0).toCharArray();
        int port = Integer.parseInt(args[2]);
        if (args.length < 4) {
            ping(p12, pass, port);
            System.out.println("PONG");
            return;
        }
        Path stop = Paths.get(args[3]);
        long connections = 0;
        long failures = 0;
        while (!Files.exists(stop)) {
            try {
                ping(p12, pass, port);
            } catch (Exception e) {
                failures++;
                System.err.println("connection " + connections + ": " + e);
            }
            connections++;
            Thread.sleep(100);
        }
        System.out.println("connections " + connections + " failures " + failures);
    }

    static void ping(Path p12, char[] pass, int port) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(p12)) {
            store.load(in, pass);
        }
        KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keys.init(store, pass);
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(store);
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(keys.getKeyManagers(), trust.getTrustManagers(), null);
        try (SSLSocket socket = (SSLSocket) tls.getSocketFactory().createSocket("127.0.0.1", port)) {
            SSLParameters params = socket.getSSLParameters();
            params.setEndpointIdentificationAlgorithm("HTTPS");
            socket.setSSLParameters(params);
            socket.setSoTimeout(5000);
            socket.startHandshake();
            OutputStream out = socket.getOutputStream();
            out.write(resp("AUTH", System.getenv("RCTL_TEST_USER"), System.getenv("RCTL_TEST_PASSWORD")));
            out.write(resp("PING"));
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            expect(in.readLine(), "+OK");
            expect(in.readLine(), "+PONG");
        }
    }

    static void expect(String got, String want) {
        if (!want.equals(got)) {
            throw new IllegalStateException("expected " + want + ", got " + got);
        }
    }

    static byte[] resp(String... words) {
        StringBuilder s = new StringBuilder("*").append(words.length).append("\r\n");
        for (String w : words) {
            byte[] b = w.getBytes(StandardCharsets.UTF_8);
            s.append('$').append(b.length).append("\r\n").append(w).append("\r\n");
        }
        return s.toString().getBytes(StandardCharsets.UTF_8);
    }
}

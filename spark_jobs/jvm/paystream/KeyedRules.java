package paystream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The keyed rules as plain Java over one key's recent payments: the stateful query's logic.
 *
 * <p>A user's (or merchant's) entry keeps the payments the rules' windows plus the allowed
 * lateness still need, the transaction ids seen within the lateness and the alerts raised for
 * the payments kept. {@link #judge} adds what arrived and re-judges every kept payment within
 * the rules' horizon after an arrival, so a late payment completes a later one's window; the
 * rules are monotone, so the stream ends with exactly the alerts lakehouse.rules (Spark SQL)
 * finds over the same payments, which tests hold equal.
 */
public final class KeyedRules {
  static final ObjectMapper JSON = new ObjectMapper();
  static final Set<String> CARD_PRESENT = Set.of("pos", "contactless", "atm");

  private KeyedRules() {}

  /** One accepted payment, as much of it as the keyed rules read. */
  public static final class Payment {
    final long ms;
    final String transactionId;
    final BigDecimal amountEur;
    final String merchantId;
    final String channel;
    final double lat;
    final double lon;
    final String city;
    final String cardId;
    final String userId;
    final long kafkaMs;

    Payment(long ms, String transactionId, BigDecimal amountEur, String merchantId,
            String channel, double lat, double lon, String city, String cardId, String userId,
            long kafkaMs) {
      this.ms = ms;
      this.transactionId = transactionId;
      this.amountEur = amountEur;
      this.merchantId = merchantId;
      this.channel = channel;
      this.lat = lat;
      this.lon = lon;
      this.city = city;
      this.cardId = cardId;
      this.userId = userId;
      this.kafkaMs = kafkaMs;
    }

    static final Comparator<Payment> ORDER =
        Comparator.comparingLong((Payment p) -> p.ms).thenComparing(p -> p.transactionId);

    ArrayNode encode() {
      ArrayNode out = JSON.createArrayNode();
      out.add(ms).add(transactionId).add(amountEur.toPlainString()).add(merchantId).add(channel)
          .add(lat).add(lon).add(city).add(cardId).add(userId).add(kafkaMs);
      return out;
    }

    static Payment decode(JsonNode n) {
      return new Payment(n.get(0).asLong(), n.get(1).asText(), new BigDecimal(n.get(2).asText()),
          n.get(3).asText(), n.get(4).asText(), n.get(5).asDouble(), n.get(6).asDouble(),
          n.get(7).asText(), n.get(8).asText(), n.get(9).asText(), n.get(10).asLong());
    }
  }

  /** What the state store keeps per key: recent payments, seen ids, raised alerts. */
  public static final class Entry {
    final List<Payment> payments = new ArrayList<>();  // sorted by (ms, transaction id)
    final Map<String, Seen> seen = new HashMap<>();
    final Set<String> alerted = new HashSet<>();  // rule_id:transaction_id

    /** One compact JSON string: [[payments], {tx: [hash, ms]}, [alerted]]. */
    String encode() {
      ArrayNode root = JSON.createArrayNode();
      ArrayNode list = root.addArray();
      payments.forEach(p -> list.add(p.encode()));
      ObjectNode seenNode = root.addObject();
      seen.forEach((tx, s) -> seenNode.putArray(tx).add(s.hash).add(s.ms));
      ArrayNode alertedNode = root.addArray();
      alerted.stream().sorted().forEach(alertedNode::add);
      return root.toString();
    }

    static Entry decode(String text) {
      Entry entry = new Entry();
      if (text == null || text.isEmpty()) {
        return entry;
      }
      try {
        JsonNode root = JSON.readTree(text);
        root.get(0).forEach(n -> entry.payments.add(Payment.decode(n)));
        root.get(1).properties().forEach(e -> entry.seen.put(e.getKey(),
            new Seen(e.getValue().get(0).asText(), e.getValue().get(1).asLong())));
        root.get(2).forEach(n -> entry.alerted.add(n.asText()));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return entry;
    }
  }

  record Seen(String hash, long ms) {}

  /** A payment a rule flags, with the details its alert carries. */
  public record Hit(String ruleId, Payment payment, Map<String, Object> details) {}

  /** One rule's severity, switch and parameters (as the strings the YAML held). */
  public record Rule(String severity, boolean enabled, Map<String, String> params)
      implements Serializable {
    String param(String name) {
      String value = params.get(name);
      if (value == null) {
        throw new IllegalArgumentException("rule lacks " + name);
      }
      return value;
    }

    long whole(String name) {
      return new BigDecimal(param(name)).longValue();
    }

    double real(String name) {
      return Double.parseDouble(param(name));
    }
  }

  /** The rules' configuration, from the JSON the Python side writes. */
  public static Map<String, Rule> parseRules(JsonNode rules) {
    Map<String, Rule> out = new LinkedHashMap<>();
    rules.properties().forEach(e -> {
      Map<String, String> params = new HashMap<>();
      e.getValue().get("params").properties()
          .forEach(p -> params.put(p.getKey(), p.getValue().asText()));
      out.put(e.getKey(), new Rule(e.getValue().get("severity").asText(),
          e.getValue().get("enabled").asBoolean(), params));
    });
    return out;
  }

  static List<Payment> inRange(List<Payment> payments, long lowMs, long highMs) {
    int from = firstAtOrAfter(payments, lowMs);
    int to = firstAtOrAfter(payments, highMs + 1);
    return payments.subList(from, to);
  }

  private static int firstAtOrAfter(List<Payment> payments, long ms) {
    int low = 0;
    int high = payments.size();
    while (low < high) {
      int mid = (low + high) >>> 1;
      if (payments.get(mid).ms < ms) {
        low = mid + 1;
      } else {
        high = mid;
      }
    }
    return low;
  }

  /** Great-circle distance, the formula the Spark SQL rule uses. */
  static double haversineKm(double lat1, double lon1, double lat2, double lon2) {
    double dlat = Math.toRadians(lat2 - lat1);
    double dlon = Math.toRadians(lon2 - lon1);
    double a = Math.pow(Math.sin(dlat / 2), 2)
        + Math.cos(Math.toRadians(lat1)) * Math.cos(Math.toRadians(lat2))
        * Math.pow(Math.sin(dlon / 2), 2);
    return 2 * 6371.0088 * Math.asin(Math.sqrt(a));
  }

  static double round1(double value) {
    return BigDecimal.valueOf(value).setScale(1, java.math.RoundingMode.HALF_UP).doubleValue();
  }

  static List<Hit> velocity(List<Payment> payments, List<Payment> judged, Rule rule) {
    int limit = (int) rule.whole("max_payments");
    long windowMs = rule.whole("window_seconds") * 1000;
    List<Hit> hits = new ArrayList<>();
    for (Payment p : judged) {
      int count = inRange(payments, p.ms - windowMs, p.ms).size();
      if (count > limit) {
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("payments_in_window", count);
        details.put("max_payments", limit);
        details.put("window_seconds", windowMs / 1000);
        hits.add(new Hit("velocity", p, details));
      }
    }
    return hits;
  }

  static List<Hit> cardTesting(List<Payment> payments, List<Payment> judged, Rule rule) {
    BigDecimal ceiling = new BigDecimal(rule.param("max_amount_eur"));
    int need = (int) rule.whole("min_distinct_merchants");
    long windowMs = rule.whole("window_seconds") * 1000;
    List<Hit> hits = new ArrayList<>();
    for (Payment p : judged) {
      if (!tiny(p, ceiling)) {
        continue;
      }
      Set<String> merchants = new HashSet<>();
      for (Payment q : inRange(payments, p.ms - windowMs, p.ms)) {
        if (tiny(q, ceiling)) {
          merchants.add(q.merchantId);
        }
      }
      if (merchants.size() >= need) {
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("distinct_merchants", merchants.size());
        details.put("max_amount_eur", rule.param("max_amount_eur"));
        hits.add(new Hit("card_testing", p, details));
      }
    }
    return hits;
  }

  private static boolean tiny(Payment p, BigDecimal ceiling) {
    return p.amountEur.compareTo(ceiling) <= 0 && "ecommerce".equals(p.channel);
  }

  static List<Hit> impossibleTravel(List<Payment> payments, List<Payment> judged, Rule rule) {
    double maxKmh = rule.real("max_speed_kmh");
    double minKm = rule.real("min_distance_km");
    long lookbackMs = (long) (rule.real("lookback_hours") * 3_600_000);
    List<Hit> hits = new ArrayList<>();
    for (Payment p : judged) {
      if (!CARD_PRESENT.contains(p.channel)) {
        continue;
      }
      for (Payment q : inRange(payments, p.ms - lookbackMs, p.ms)) {
        if (!CARD_PRESENT.contains(q.channel) || q.transactionId.equals(p.transactionId)) {
          continue;
        }
        double distance = haversineKm(q.lat, q.lon, p.lat, p.lon);
        double hours = Math.max((p.ms - q.ms) / 3_600_000.0, 1.0 / 3600);
        if (distance >= minKm && distance / hours > maxKmh) {
          Map<String, Object> details = new LinkedHashMap<>();
          details.put("previous_transaction_id", q.transactionId);
          details.put("previous_city", q.city);
          details.put("city", p.city);
          details.put("distance_km", round1(distance));
          details.put("speed_kmh", round1(distance / hours));
          hits.add(new Hit("impossible_travel", p, details));
          break;
        }
      }
    }
    return hits;
  }

  /** Payments that make a merchant's elevated tickets span many distinct cards. */
  static List<Hit> compromisedMerchant(List<Payment> payments, List<Payment> judged, Rule rule) {
    int need = (int) rule.whole("min_distinct_users");
    long windowMs = rule.whole("window_seconds") * 1000;
    List<Hit> hits = new ArrayList<>();
    for (Payment p : judged) {
      Set<String> cards = new HashSet<>();
      for (Payment q : inRange(payments, p.ms - windowMs, p.ms)) {
        cards.add(q.cardId);
      }
      if (cards.size() >= need) {
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("distinct_cards", cards.size());
        details.put("ticket_multiple", rule.param("ticket_multiple"));
        hits.add(new Hit("compromised_merchant", p, details));
      }
    }
    return hits;
  }

  static List<Hit> apply(String ruleId, List<Payment> payments, List<Payment> judged, Rule rule) {
    return switch (ruleId) {
      case "velocity" -> velocity(payments, judged, rule);
      case "card_testing" -> cardTesting(payments, judged, rule);
      case "impossible_travel" -> impossibleTravel(payments, judged, rule);
      case "compromised_merchant" -> compromisedMerchant(payments, judged, rule);
      default -> throw new IllegalArgumentException("not a keyed rule: " + ruleId);
    };
  }

  /**
   * Add accepted payments to an entry; return the hits not raised before.
   *
   * <p>Every kept payment within horizonMs (how far back the rules look) after an arrival is
   * judged again. keepMs bounds the entry: payments older than the newest minus keepMs are
   * dropped afterwards.
   */
  public static List<Hit> judge(Entry entry, List<Payment> arrived, Map<String, Rule> rules,
                                List<String> ids, long horizonMs, long keepMs) {
    if (arrived.isEmpty()) {
      return List.of();
    }
    entry.payments.addAll(arrived);
    entry.payments.sort(Payment.ORDER);
    long[] arrivalMs = arrived.stream().mapToLong(p -> p.ms).sorted().toArray();
    List<Payment> judged = new ArrayList<>();
    for (Payment p : entry.payments) {
      int at = upperBound(arrivalMs, p.ms);
      if (at > 0 && p.ms - arrivalMs[at - 1] <= horizonMs) {
        judged.add(p);
      }
    }
    List<Hit> hits = new ArrayList<>();
    for (String id : ids) {
      Rule rule = rules.get(id);
      if (rule == null || !rule.enabled()) {
        continue;
      }
      for (Hit hit : apply(id, entry.payments, judged, rule)) {
        if (entry.alerted.add(id + ":" + hit.payment().transactionId)) {
          hits.add(hit);
        }
      }
    }
    long newest = entry.payments.get(entry.payments.size() - 1).ms;
    entry.payments.removeIf(p -> p.ms < newest - keepMs);
    Set<String> kept = new HashSet<>();
    entry.payments.forEach(p -> kept.add(p.transactionId));
    entry.alerted.removeIf(key -> !kept.contains(key.substring(key.indexOf(':') + 1)));
    return hits;
  }

  private static int upperBound(long[] sorted, long value) {
    int at = Arrays.binarySearch(sorted, value);
    if (at < 0) {
      return -at - 1;
    }
    while (at < sorted.length && sorted[at] == value) {
      at++;
    }
    return at;
  }

  /**
   * "new", "resend" (same payload) or "conflict" (another payload) for one arriving record.
   *
   * <p>A transaction id counts as seen when an earlier record of this key carried it with an
   * event time within dedupeMs of this one (silver's dedupe asks the same of its table).
   */
  public static String settle(Entry entry, String transactionId, String payloadHash, long ms,
                              long dedupeMs) {
    Seen earlier = entry.seen.get(transactionId);
    if (earlier != null && Math.abs(earlier.ms() - ms) <= dedupeMs) {
      return earlier.hash().equals(payloadHash) ? "resend" : "conflict";
    }
    entry.seen.put(transactionId, new Seen(payloadHash, ms));
    return "new";
  }

  /** Drop seen ids no arriving record can match any more (older than newest - 2 x dedupe). */
  public static void forgetSeen(Entry entry, long dedupeMs) {
    if (entry.payments.isEmpty()) {
      return;
    }
    long floor = entry.payments.get(entry.payments.size() - 1).ms - 2 * dedupeMs;
    entry.seen.values().removeIf(s -> s.ms() < floor);
  }

  /** The details of a hit as compact JSON. */
  static String detailsJson(Hit hit) {
    try {
      return JSON.writeValueAsString(hit.details());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The rule ids a config lists under {@code field}: the families come from lakehouse.rules,
   * so no family is written twice ({@link #apply} refuses an id this class cannot judge).
   */
  static List<String> family(JsonNode root, String field) {
    List<String> ids = new ArrayList<>();
    for (JsonNode id : root.get(field)) {
      ids.add(id.asText());
    }
    return Collections.unmodifiableList(ids);
  }

  static List<String> enabled(Map<String, Rule> rules, List<String> ids) {
    List<String> out = new ArrayList<>();
    for (String id : ids) {
      Rule rule = rules.get(id);
      if (rule != null && rule.enabled()) {
        out.add(id);
      }
    }
    return Collections.unmodifiableList(out);
  }
}

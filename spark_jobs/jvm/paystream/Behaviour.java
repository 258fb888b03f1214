package paystream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Behavioural features, the two behavioural rules and the risk score as the stateful query
 * keeps them: the definitions of lakehouse.behaviour and lakehouse.risk, which tests hold equal.
 *
 * <p>Every window is made of whole UTC days before the payment's own day, so a user's profile is
 * a few daily totals (payments, sum, max) and a merchant's a few daily counts plus the frauds
 * labelled so far (transaction, event day, when the label arrived). A payment's features depend
 * only on earlier days; only the time since the previous payment depends on arrival order.
 */
public final class Behaviour {
  static final long DAY_MS = 86_400_000L;
  static final int[] PROFILE_DAYS = {1, 7, 30};
  static final int MAX_PROFILE_DAYS = 30;

  private Behaviour() {}

  /** The behaviour section of the processor's JSON config. */
  public record Config(int windowDays, int baselineSkipDays,
                       Map<String, BigDecimal> factors,
                       int minHistory, Map<String, Double> ruleWeights,
                       double profileWeight, double terminalWeight, double fullRatio,
                       double fullRate, double review, double block, BigDecimal highAmount) {
    int historyDays() {
      return Math.max(MAX_PROFILE_DAYS, windowDays);
    }

    static Config parse(JsonNode node) {
      Map<String, BigDecimal> factors = new HashMap<>();
      node.get("category_factors").properties()
          .forEach(e -> factors.put(e.getKey(), new BigDecimal(e.getValue().asText())));
      Map<String, Double> weights = new HashMap<>();
      node.get("rule_weights").properties()
          .forEach(e -> weights.put(e.getKey(), e.getValue().asDouble()));
      JsonNode high = node.get("high_amount_eur");
      return new Config(node.get("window_days").asInt(),
          node.get("baseline_skip_days").asInt(), factors,
          node.get("min_history").asInt(), weights, node.get("profile_weight").asDouble(),
          node.get("terminal_weight").asDouble(), node.get("full_ratio").asDouble(),
          node.get("full_rate").asDouble(), node.get("review").asDouble(),
          node.get("block").asDouble(),
          high == null || high.isNull() ? null : new BigDecimal(high.asText()));
    }
  }

  /** One day of a user's payments. */
  static final class DayTotal {
    long count;
    BigDecimal sum;
    BigDecimal max;

    DayTotal(long count, BigDecimal sum, BigDecimal max) {
      this.count = count;
      this.sum = sum;
      this.max = max;
    }
  }

  /** What the state keeps per user: daily totals and the newest payment. */
  public static final class Profile {
    final TreeMap<Long, DayTotal> days = new TreeMap<>();
    long lastMs = Long.MIN_VALUE;
    String lastTx = "";

    /** Count a payment into its day, after its features were read. */
    void add(long ms, String tx, BigDecimal amount) {
      long day = Math.floorDiv(ms, DAY_MS);
      DayTotal total = days.get(day);
      if (total == null) {
        days.put(day, new DayTotal(1, amount, amount));
      } else {
        total.count++;
        total.sum = total.sum.add(amount);
        total.max = total.max.max(amount);
      }
      if (ms > lastMs || (ms == lastMs && tx.compareTo(lastTx) > 0)) {
        lastMs = ms;
        lastTx = tx;
      }
      days.headMap(day - MAX_PROFILE_DAYS).clear();
    }

    String encode() {
      ArrayNode root = KeyedRules.JSON.createArrayNode();
      ArrayNode list = root.addArray();
      days.forEach((day, t) -> list.addArray().add(day).add(t.count).add(t.sum.toPlainString())
          .add(t.max.toPlainString()));
      root.add(lastMs).add(lastTx);
      return root.toString();
    }

    static Profile decode(String text) {
      Profile profile = new Profile();
      if (text == null || text.isEmpty()) {
        return profile;
      }
      JsonNode root = read(text);
      root.get(0).forEach(n -> profile.days.put(n.get(0).asLong(), new DayTotal(
          n.get(1).asLong(), new BigDecimal(n.get(2).asText()), new BigDecimal(n.get(3).asText()))));
      profile.lastMs = root.get(1).asLong();
      profile.lastTx = root.get(2).asText();
      return profile;
    }

    long newestDay() {
      return days.isEmpty() ? Long.MIN_VALUE : days.lastKey();
    }
  }

  /** What the state keeps per merchant: daily payment counts and the frauds labelled so far. */
  public static final class Terminal {
    final TreeMap<Long, Long> days = new TreeMap<>();
    // transaction -> {event day, label ms, event ms}
    final Map<String, long[]> frauds = new HashMap<>();

    void add(long ms, int historyDays) {
      long day = Math.floorDiv(ms, DAY_MS);
      days.merge(day, 1L, Long::sum);
      forget(day - historyDays);
    }

    /** A label: fraud adds the transaction, legit (a later word) removes it. */
    void label(String tx, boolean fraud, long eventMs, long labelledMs, int historyDays) {
      if (fraud) {
        frauds.put(tx, new long[] {Math.floorDiv(eventMs, DAY_MS), labelledMs, eventMs});
      } else {
        frauds.remove(tx);
      }
      if (!days.isEmpty()) {
        forget(days.lastKey() - historyDays);
      }
    }

    private void forget(long floorDay) {
      days.headMap(floorDay).clear();
      frauds.values().removeIf(f -> f[0] < floorDay);
    }

    String encode() {
      ArrayNode root = KeyedRules.JSON.createArrayNode();
      ArrayNode list = root.addArray();
      days.forEach((day, n) -> list.addArray().add(day).add(n));
      ObjectNode known = root.addObject();
      new TreeSet<>(frauds.keySet()).forEach(tx -> known.putArray(tx).add(frauds.get(tx)[0])
          .add(frauds.get(tx)[1]).add(frauds.get(tx)[2]));
      return root.toString();
    }

    static Terminal decode(String text) {
      Terminal terminal = new Terminal();
      if (text == null || text.isEmpty()) {
        return terminal;
      }
      JsonNode root = read(text);
      root.get(0).forEach(n -> terminal.days.put(n.get(0).asLong(), n.get(1).asLong()));
      // A state written before the event time was kept: the event day's start stands in.
      root.get(1).properties().forEach(e -> terminal.frauds.put(e.getKey(), new long[] {
          e.getValue().get(0).asLong(), e.getValue().get(1).asLong(),
          e.getValue().size() > 2 ? e.getValue().get(2).asLong()
              : e.getValue().get(0).asLong() * DAY_MS}));
      return terminal;
    }

    long newestDay() {
      return days.isEmpty() ? Long.MIN_VALUE : days.lastKey();
    }
  }

  private static JsonNode read(String text) {
    try {
      return KeyedRules.JSON.readTree(text);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A payment's user features (the user stage reads them), in FEATURE_COLUMNS' order. */
  public static Map<String, Object> userFeatures(Profile user, long ms, String tx, String mcc,
                                                 Config config) {
    long day = Math.floorDiv(ms, DAY_MS);
    Map<String, Object> out = new LinkedHashMap<>();
    for (int days : PROFILE_DAYS) {
      long count = 0;
      BigDecimal sum = BigDecimal.ZERO;
      BigDecimal max = null;
      for (DayTotal t : user.days.subMap(day - days, true, day, false).values()) {
        count += t.count;
        sum = sum.add(t.sum);
        max = max == null ? t.max : max.max(t.max);
      }
      out.put("user_payments_" + days + "d", count);
      // Spark: (sum / count) at scale 12, half up, then cast to decimal(18,2), half up.
      out.put("user_mean_eur_" + days + "d", count == 0 ? null
          : sum.divide(BigDecimal.valueOf(count), 12, RoundingMode.HALF_UP)
              .setScale(2, RoundingMode.HALF_UP));
      out.put("user_max_eur_" + days + "d", max);
    }
    long baselineCount = 0;
    BigDecimal baselineSum = BigDecimal.ZERO;
    for (DayTotal t : user.days.subMap(day - MAX_PROFILE_DAYS, true,
        day - config.baselineSkipDays(), false).values()) {
      baselineCount += t.count;
      baselineSum = baselineSum.add(t.sum);
    }
    BigDecimal baseline = baselineCount == 0 ? null
        : baselineSum.divide(BigDecimal.valueOf(baselineCount), 12, RoundingMode.HALF_UP)
            .setScale(2, RoundingMode.HALF_UP);
    out.put("user_baseline_eur", baseline);
    boolean earlier = user.lastMs != Long.MIN_VALUE
        && (user.lastMs < ms || (user.lastMs == ms && user.lastTx.compareTo(tx) < 0));
    out.put("seconds_since_previous", earlier ? (ms - user.lastMs) / 1000.0 : null);
    BigDecimal factor = config.factors().getOrDefault(mcc, BigDecimal.ONE);
    out.put("category_factor", factor.doubleValue());
    BigDecimal usual = baseline != null ? baseline : (BigDecimal) out.get("user_mean_eur_30d");
    out.put("user_expected_eur",
        usual == null ? null : usual.multiply(factor).setScale(2, RoundingMode.HALF_UP));
    return out;
  }

  /** A payment's merchant features (the merchant stage reads them), in FEATURE_COLUMNS' order. */
  public static Map<String, Object> terminalFeatures(Terminal merchant, long ms, Config config) {
    long day = Math.floorDiv(ms, DAY_MS);
    Map<String, Object> out = new LinkedHashMap<>();
    for (int days : PROFILE_DAYS) {
      long count = 0;
      for (long n : merchant.days.subMap(day - days, true, day, false).values()) {
        count += n;
      }
      out.put("merchant_payments_" + days + "d", count);
    }
    // The frauds known before the payment's day whose payment fell in the window's days.
    long far = day - config.windowDays();
    long dayStartMs = day * DAY_MS;
    long frauds = 0;
    long newest = Long.MIN_VALUE;
    long lagMs = 0;
    for (long[] fraud : merchant.frauds.values()) {
      if (fraud[0] >= far && fraud[0] < day && fraud[1] < dayStartMs) {
        frauds++;
        newest = Math.max(newest, fraud[0]);
        lagMs += fraud[1] - fraud[2];
      }
    }
    // The payments of the window's days up to the newest known fraud's: days the labels
    // cannot cover yet do not dilute the rate.
    long payments = 0;
    if (frauds > 0) {
      for (long n : merchant.days.subMap(far, true, newest, true).values()) {
        payments += n;
      }
    }
    out.put("terminal_payments", payments);
    out.put("terminal_frauds", frauds);
    out.put("terminal_fraud_rate", payments == 0 ? 0.0 : (double) frauds / payments);
    out.put("terminal_days_since_fraud", frauds == 0 ? null : day - newest);
    // Spark: round(sum(lag ms) / frauds / 86400000.0, 4), each division in double.
    out.put("terminal_label_lag_days", frauds == 0 ? null
        : roundHalfUp((double) lagMs / (double) frauds / (double) DAY_MS, 4));
    return out;
  }

  /** Spark's round(x, places) on a double: half up on its shortest decimal form. */
  static double roundHalfUp(double value, int places) {
    return BigDecimal.valueOf(value).setScale(places, RoundingMode.HALF_UP).doubleValue();
  }

  /** amount over the expected amount, to 4 places, or null without enough history. */
  static Double amountRatio(BigDecimal amount, Map<String, Object> features, Config config) {
    BigDecimal expected = (BigDecimal) features.get("user_expected_eur");
    if ((long) features.get("user_payments_30d") < config.minHistory() || expected == null
        || expected.signum() == 0) {
      return null;
    }
    return roundHalfUp(amount.divide(expected, 20, RoundingMode.HALF_UP).doubleValue(), 4);
  }

  /** The amount_vs_profile hit of a payment, or null. */
  static Map<String, Object> amountVsProfile(BigDecimal amount, Map<String, Object> f,
                                             KeyedRules.Rule rule) {
    BigDecimal expected = (BigDecimal) f.get("user_expected_eur");
    if ((long) f.get("user_payments_30d") < rule.whole("min_history") || expected == null
        || amount.compareTo(new BigDecimal(rule.param("min_amount_eur"))) < 0
        || amount.compareTo(expected.multiply(new BigDecimal(rule.param("multiple")))) <= 0) {
      return null;
    }
    Map<String, Object> details = new LinkedHashMap<>();
    details.put("user_expected_eur", expected.toPlainString());
    details.put("user_mean_eur_30d", ((BigDecimal) f.get("user_mean_eur_30d")).toPlainString());
    details.put("user_payments_30d", f.get("user_payments_30d"));
    details.put("multiple", rule.param("multiple"));
    return details;
  }

  /** The risky_terminal hit of a payment, or null: enough known frauds at a high enough rate,
   * the newest no older than the labels' mean lateness plus fade_days. */
  static Map<String, Object> riskyTerminal(Map<String, Object> f, KeyedRules.Rule rule) {
    Double rate = (Double) f.get("terminal_fraud_rate");
    Long since = (Long) f.get("terminal_days_since_fraud");
    Double lag = (Double) f.get("terminal_label_lag_days");
    if ((long) f.get("terminal_frauds") < rule.whole("min_frauds") || rate == null
        || rate < rule.real("min_fraud_rate") || since == null || lag == null
        || since > lag + (double) rule.whole("fade_days")) {
      return null;
    }
    Map<String, Object> details = new LinkedHashMap<>();
    details.put("terminal_fraud_rate", roundHalfUp(rate, 4));
    details.put("terminal_frauds", f.get("terminal_frauds"));
    details.put("terminal_payments", f.get("terminal_payments"));
    details.put("days_since_fraud", since);
    details.put("label_lag_days", lag);
    details.put("window_days", rule.whole("window_days"));
    return details;
  }

  private static double graded(Double value, double zeroAt, double fullAt) {
    if (value == null) {
      return 0.0;
    }
    return Math.min(1.0, Math.max(0.0, (value - zeroAt) / (fullAt - zeroAt)));
  }

  /** What each fired rule and graded feature adds, largest first, zeros left out. */
  public static List<Map.Entry<String, Double>> contributions(Config config, TreeSet<String> fired,
                                                              Double ratio, Double rate) {
    List<Map.Entry<String, Double>> parts = new ArrayList<>();
    for (String rule : fired) {
      parts.add(Map.entry("rule:" + rule, config.ruleWeights().getOrDefault(rule, 0.0)));
    }
    parts.add(Map.entry("amount_vs_profile_ratio",
        config.profileWeight() * graded(ratio, 1.0, config.fullRatio())));
    parts.add(Map.entry("terminal_fraud_rate",
        config.terminalWeight() * graded(rate, 0.0, config.fullRate())));
    parts.removeIf(p -> !(p.getValue() > 0));
    parts.sort((a, b) -> a.getValue().equals(b.getValue()) ? a.getKey().compareTo(b.getKey())
        : Double.compare(b.getValue(), a.getValue()));
    return parts;
  }

  /** The score: the contributions' sum capped at 1, to 4 places. */
  public static double score(List<Map.Entry<String, Double>> parts) {
    double total = 0.0;
    for (Map.Entry<String, Double> p : parts) {
      total += p.getValue();
    }
    return roundHalfUp(Math.min(1.0, total), 4);
  }

  /** approve, review or block. */
  public static String decide(Config config, double score) {
    return score >= config.block() ? "block" : score >= config.review() ? "review" : "approve";
  }

  /** The top three contributions as JSON: [{"name": ..., "value": ...}]. */
  static String contributionsJson(List<Map.Entry<String, Double>> parts) {
    ArrayNode out = KeyedRules.JSON.createArrayNode();
    for (Map.Entry<String, Double> p : parts.subList(0, Math.min(3, parts.size()))) {
      out.addObject().put("name", p.getKey()).put("value", roundHalfUp(p.getValue(), 4));
    }
    return out.toString();
  }

  /** A feature map as JSON (decimals as strings, like the alert details). */
  static String featuresJson(Map<String, Object> features) {
    return featuresJson(KeyedRules.JSON.createObjectNode(), features);
  }

  /** The features added to `out` (a JSON object the user stage began), as JSON text. */
  static String featuresJson(ObjectNode out, Map<String, Object> features) {
    features.forEach((k, v) -> {
      if (v == null) {
        out.putNull(k);
      } else if (v instanceof BigDecimal d) {
        out.put(k, d.toPlainString());
      } else if (v instanceof Long n) {
        out.put(k, n);
      } else {
        out.put(k, (Double) v);
      }
    });
    return out.toString();
  }
}

package paystream;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Payments, rules and configs the processor's unit tests build by hand (not a test class). */
final class Fixtures {
  static final long SECOND = 1_000L;
  static final long MINUTE = 60_000L;
  static final long HOUR = 3_600_000L;
  static final long DAY = 86_400_000L;
  /** 2026-01-01T00:00:00Z: a UTC midnight, so T0 + n * DAY starts day n. */
  static final long T0 = 1_767_225_600_000L;
  /** The Earth's mean radius the rules use: along the equator, km = R x radians of longitude. */
  static final double EARTH_KM = 6371.0088;

  private Fixtures() {}

  /** A 10.00 EUR card-present payment of user u1 with card c1 at merchant m1 in Berlin. */
  static KeyedRules.Payment pay(String tx, long ms) {
    return pay(tx, ms, "10.00", "m1", "pos");
  }

  /** A payment of user u1 with card c1 at (52.52, 13.40), Berlin. */
  static KeyedRules.Payment pay(String tx, long ms, String amountEur, String merchant,
                                String channel) {
    return new KeyedRules.Payment(ms, tx, new BigDecimal(amountEur), merchant, channel, 52.52,
        13.40, "Berlin", "c1", "u1", ms);
  }

  /** A payment of user u1 on the equator, `km` east of longitude 0. */
  static KeyedRules.Payment eastOf(String tx, long ms, double km, String city, String channel) {
    return new KeyedRules.Payment(ms, tx, new BigDecimal("10.00"), "m1", channel, 0.0,
        Math.toDegrees(km / EARTH_KM), city, "c1", "u1", ms);
  }

  /** An elevated 500.00 EUR payment with `card` at merchant m1 (compromised_merchant's input). */
  static KeyedRules.Payment withCard(String tx, long ms, String card) {
    return new KeyedRules.Payment(ms, tx, new BigDecimal("500.00"), "m1", "pos", 52.52, 13.40,
        "Berlin", card, "u-" + card, ms);
  }

  /** A rule from name, value pairs: rule("max_payments", "5", "window_seconds", "60"). */
  static KeyedRules.Rule rule(String... nameValues) {
    Map<String, String> params = new HashMap<>();
    for (int i = 0; i < nameValues.length; i += 2) {
      params.put(nameValues[i], nameValues[i + 1]);
    }
    return new KeyedRules.Rule("high", true, params);
  }

  /** config/rules.yaml's velocity: more than 5 payments within 60 s. */
  static KeyedRules.Rule velocity() {
    return rule("max_payments", "5", "window_seconds", "60");
  }

  /** config/rules.yaml's card_testing: tiny (<= 2.00) online payments at >= 4 merchants in 5 min. */
  static KeyedRules.Rule cardTesting() {
    return rule("max_amount_eur", "2.00", "min_distinct_merchants", "4", "window_seconds", "300");
  }

  /** config/rules.yaml's impossible_travel: > 900 km/h over >= 500 km within 12 h. */
  static KeyedRules.Rule impossibleTravel() {
    return rule("max_speed_kmh", "900", "min_distance_km", "500", "lookback_hours", "12");
  }

  /** config/rules.yaml's compromised_merchant: >= 6 distinct cards' elevated tickets in 15 min. */
  static KeyedRules.Rule compromisedMerchant() {
    return rule("min_distinct_users", "6", "ticket_multiple", "4.0", "window_seconds", "900");
  }

  /** The hits of one rule when all the payments arrive together at a fresh entry. */
  static List<KeyedRules.Hit> hits(String ruleId, KeyedRules.Rule rule,
                                   KeyedRules.Payment... payments) {
    return KeyedRules.judge(new KeyedRules.Entry(), List.of(payments), Map.of(ruleId, rule),
        List.of(ruleId), 13 * HOUR, 13 * HOUR);
  }

  /** The transaction ids of some hits, in order. */
  static List<String> flagged(List<KeyedRules.Hit> hits) {
    List<String> out = new ArrayList<>();
    hits.forEach(h -> out.add(h.payment().transactionId));
    return out;
  }

  /** config/rules.yaml's risk settings and a terminal window of 14 days (shipped: 10). */
  static Behaviour.Config behaviour() {
    return new Behaviour.Config(14, 7,
        Map.of("5812", new BigDecimal("0.5"), "4722", new BigDecimal("3.25")), 10,
        Map.of("high_amount", 0.9, "velocity", 0.5, "card_testing", 0.9,
            "impossible_travel", 0.8, "compromised_merchant", 0.9, "amount_vs_profile", 0.6,
            "risky_terminal", 0.6),
        0.3, 0.4, 10.0, 0.5, 0.5, 0.8, new BigDecimal("5000.00"));
  }
}

package paystream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static paystream.Fixtures.DAY;
import static paystream.Fixtures.HOUR;
import static paystream.Fixtures.T0;
import static paystream.Fixtures.behaviour;
import static paystream.Fixtures.rule;

import java.math.BigDecimal;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A user's profile features, a merchant's terminal features and the two behavioural rules. */
class BehaviourTest {
  /** The payment's day: day 40 after T0; its features read only days 10 to 39. */
  static final long D = T0 + 40 * DAY;
  static final KeyedRules.Rule AMOUNT_VS_PROFILE =
      rule("multiple", "5.0", "min_history", "10", "min_amount_eur", "50.00");
  static final KeyedRules.Rule RISKY_TERMINAL =
      rule("window_days", "14", "min_frauds", "3", "min_fraud_rate", "0.06", "fade_days", "1");

  private static BigDecimal eur(String amount) {
    return new BigDecimal(amount);
  }

  /** Features as the user stage hands them to the behavioural rules, written by hand. */
  private static Map<String, Object> userFeatures(long payments30d, String expected,
                                                  String mean30d) {
    Map<String, Object> out = new HashMap<>();
    out.put("user_payments_30d", payments30d);
    out.put("user_expected_eur", expected == null ? null : eur(expected));
    out.put("user_mean_eur_30d", mean30d == null ? null : eur(mean30d));
    return out;
  }

  private static Map<String, Object> terminalFeatures(long frauds, long payments, Long since,
                                                      Double lag) {
    Map<String, Object> out = new HashMap<>();
    out.put("terminal_frauds", frauds);
    out.put("terminal_payments", payments);
    out.put("terminal_fraud_rate", payments == 0 ? 0.0 : (double) frauds / payments);
    out.put("terminal_days_since_fraud", since);
    out.put("terminal_label_lag_days", lag);
    return out;
  }

  @Test
  void userFeaturesCountWholeEarlierDaysOnly() {
    Behaviour.Profile user = new Behaviour.Profile();
    user.add(D - 31 * DAY, "old", eur("1000.00"));
    user.add(D - 10 * DAY, "a", eur("100.00"));
    user.add(D - 3 * DAY, "b", eur("50.00"));
    user.add(D - DAY + HOUR, "c", eur("10.00"));
    user.add(D - DAY + 2 * HOUR, "d", eur("30.00"));
    user.add(D + HOUR, "today", eur("500.00"));
    Map<String, Object> f = Behaviour.userFeatures(user, D + 12 * HOUR, "now", "5812",
        behaviour());
    Map<String, Object> expected = new LinkedHashMap<>();
    expected.put("user_payments_1d", 2L);
    expected.put("user_mean_eur_1d", eur("20.00"));
    expected.put("user_max_eur_1d", eur("30.00"));
    expected.put("user_payments_7d", 3L);
    expected.put("user_mean_eur_7d", eur("30.00"));
    expected.put("user_max_eur_7d", eur("50.00"));
    expected.put("user_payments_30d", 4L);
    expected.put("user_mean_eur_30d", eur("47.50"));
    expected.put("user_max_eur_30d", eur("100.00"));
    expected.put("user_baseline_eur", eur("100.00"));  // days 8 to 30 before: day D-10 only
    expected.put("seconds_since_previous", 39_600.0);   // 11 h after "today"
    expected.put("category_factor", 0.5);
    expected.put("user_expected_eur", eur("50.00"));    // baseline x the 5812 factor
    assertEquals(expected, f);
  }

  @Test
  void aMeanRoundsHalfUpToTheCentAsSparkDoes() {
    Behaviour.Profile user = new Behaviour.Profile();
    user.add(D - DAY, "a", eur("0.10"));
    user.add(D - DAY + 1, "b", eur("0.15"));
    Map<String, Object> f = Behaviour.userFeatures(user, D, "now", "0000", behaviour());
    assertEquals(eur("0.13"), f.get("user_mean_eur_1d"));  // 0.125: half-even would give 0.12
  }

  @Test
  void withoutDaysOlderThanAWeekTheExpectedAmountFallsBackToTheMonthsMean() {
    Behaviour.Profile user = new Behaviour.Profile();
    user.add(D - 7 * DAY, "a", eur("10.00"));   // day 7 before: not in the baseline
    user.add(D - DAY, "b", eur("20.00"));
    Map<String, Object> f = Behaviour.userFeatures(user, D, "now", "4722", behaviour());
    assertNull(f.get("user_baseline_eur"));
    assertEquals(eur("15.00"), f.get("user_mean_eur_30d"));
    assertEquals(eur("48.75"), f.get("user_expected_eur"));  // 15.00 x 3.25
    user.add(D - 8 * DAY, "c", eur("12.00"));   // day 8 before: the baseline's newest day
    Map<String, Object> g = Behaviour.userFeatures(user, D, "now", "unlisted", behaviour());
    assertEquals(eur("12.00"), g.get("user_baseline_eur"));
    assertEquals(1.0, g.get("category_factor"));
    assertEquals(eur("12.00"), g.get("user_expected_eur"));
  }

  @Test
  void secondsSincePreviousNeedsAnEarlierPaymentByTimeThenTransactionId() {
    Behaviour.Profile user = new Behaviour.Profile();
    assertNull(Behaviour.userFeatures(user, D, "b", "0000", behaviour())
        .get("seconds_since_previous"));
    user.add(D, "b", eur("1.00"));
    assertEquals(90.5, Behaviour.userFeatures(user, D + 90_500, "c", "0000", behaviour())
        .get("seconds_since_previous"));
    assertEquals(0.0, Behaviour.userFeatures(user, D, "c", "0000", behaviour())
        .get("seconds_since_previous"));
    assertNull(Behaviour.userFeatures(user, D, "a", "0000", behaviour())
        .get("seconds_since_previous"));
    assertNull(Behaviour.userFeatures(user, D - 1, "z", "0000", behaviour())
        .get("seconds_since_previous"));
  }

  @Test
  void aProfileSurvivesItsJsonRoundTripAndForgetsDaysBeyondAMonth() {
    Behaviour.Profile user = new Behaviour.Profile();
    user.add(D - 31 * DAY, "old", eur("7.00"));
    user.add(D, "x", eur("2.50"));
    user.add(D + 1, "y", eur("4.00"));
    Behaviour.Profile back = Behaviour.Profile.decode(user.encode());
    assertEquals(1, back.days.size());  // day D-31 is more than 30 days before day D
    Behaviour.DayTotal today = back.days.get(Math.floorDiv(D, DAY));
    assertEquals(2L, today.count);
    assertEquals(eur("6.50"), today.sum);
    assertEquals(eur("4.00"), today.max);
    assertEquals(D + 1, back.lastMs);
    assertEquals("y", back.lastTx);
  }

  // amount_vs_profile: amount above 5 x expected, at least 50.00, with 10+ payments in 30 days.

  @Test
  void exactlyTheMultipleOfTheExpectedAmountIsNotAboveIt() {
    assertNull(Behaviour.amountVsProfile(eur("100.00"), userFeatures(10, "20.00", "25.00"),
        AMOUNT_VS_PROFILE));
    Map<String, Object> details = Behaviour.amountVsProfile(eur("100.01"),
        userFeatures(10, "20.00", "25.00"), AMOUNT_VS_PROFILE);
    assertEquals(Map.of("user_expected_eur", "20.00", "user_mean_eur_30d", "25.00",
        "user_payments_30d", 10L, "multiple", "5.0"), details);
  }

  @Test
  void amountVsProfileNeedsTenPaymentsOfHistory() {
    assertNull(Behaviour.amountVsProfile(eur("500.00"), userFeatures(9, "20.00", "20.00"),
        AMOUNT_VS_PROFILE));
    assertNull(Behaviour.amountVsProfile(eur("500.00"), userFeatures(10, null, null),
        AMOUNT_VS_PROFILE));
  }

  @Test
  void amountVsProfileIgnoresAmountsBelowItsMinimum() {
    assertNull(Behaviour.amountVsProfile(eur("49.99"), userFeatures(30, "5.00", "5.00"),
        AMOUNT_VS_PROFILE));
    assertEquals("5.00", Behaviour.amountVsProfile(eur("50.00"), userFeatures(30, "5.00", "5.00"),
        AMOUNT_VS_PROFILE).get("user_expected_eur"));
  }

  @Test
  void theAmountRatioIsRoundedToFourPlacesAndNeedsHistory() {
    assertEquals(7.5, Behaviour.amountRatio(eur("150.00"), userFeatures(10, "20.00", "20.00"),
        behaviour()));
    assertEquals(0.3333, Behaviour.amountRatio(eur("1.00"), userFeatures(10, "3.00", "3.00"),
        behaviour()));
    assertEquals(0.6667, Behaviour.amountRatio(eur("2.00"), userFeatures(10, "3.00", "3.00"),
        behaviour()));
    assertNull(Behaviour.amountRatio(eur("150.00"), userFeatures(9, "20.00", "20.00"),
        behaviour()));
    assertNull(Behaviour.amountRatio(eur("150.00"), userFeatures(10, "0.00", "0.00"),
        behaviour()));
  }

  // The terminal: frauds on days D-14 to D-1 whose labels were known before day D began; the
  // rate's payments are those of days D-14 up to the newest such fraud's day.

  @Test
  void withoutAKnownFraudTheRateIsZeroAndTheFadeFeaturesNull() {
    Behaviour.Terminal merchant = new Behaviour.Terminal();
    for (int back = 1; back <= 8; back++) {
      for (int i = 0; i < back; i++) {   // day D-k has k payments
        merchant.add(D - back * DAY + i, 30);
      }
    }
    Map<String, Object> f = Behaviour.terminalFeatures(merchant, D + HOUR, behaviour());
    assertEquals(1L, f.get("merchant_payments_1d"));
    assertEquals(28L, f.get("merchant_payments_7d"));   // 1 + 2 + ... + 7
    assertEquals(36L, f.get("merchant_payments_30d"));  // 1 + 2 + ... + 8
    assertEquals(0L, f.get("terminal_payments"));
    assertEquals(0L, f.get("terminal_frauds"));
    assertEquals(0.0, f.get("terminal_fraud_rate"));
    assertNull(f.get("terminal_days_since_fraud"));
    assertNull(f.get("terminal_label_lag_days"));
  }

  @Test
  void onlyFraudsLabelledBeforeThePaymentsDayBeganCount() {
    Behaviour.Terminal merchant = new Behaviour.Terminal();
    for (int back = 1; back <= 16; back++) {
      for (int i = 0; i < 10; i++) {    // ten payments a day on days D-16 to D-1
        merchant.add(D - back * DAY + i, 30);
      }
    }
    merchant.label("known", true, D - 3 * DAY, D - 1, 30);                // a millisecond before
    merchant.label("at-start", true, D - 2 * DAY, D, 30);                 // labelled as the day began
    merchant.label("yesterday", true, D - DAY, D - DAY + HOUR, 30);       // yesterday's, known
    merchant.label("too-old", true, D - 15 * DAY, D - 14 * DAY, 30);      // before the window
    merchant.label("edge", true, D - 14 * DAY, D - 13 * DAY, 30);         // the window's first day
    merchant.label("cleared", true, D - 2 * DAY, D - 2 * DAY, 30);
    merchant.label("cleared", false, D - 2 * DAY, D - DAY, 30);           // a later word: legit
    merchant.label("today", true, D + HOUR, D + 2 * HOUR, 30);            // the payment's own day
    Map<String, Object> f = Behaviour.terminalFeatures(merchant, D + 5 * HOUR, behaviour());
    assertEquals(3L, f.get("terminal_frauds"));       // "known", "yesterday" and "edge"
    assertEquals(140L, f.get("terminal_payments"));   // days D-14 to D-1, 10 a day
    assertEquals(3.0 / 140, f.get("terminal_fraud_rate"));
    assertEquals(1L, f.get("terminal_days_since_fraud"));
    // lags: 3 days less 1 ms, 1 hour, 1 day: (4 days + 1 hour - 1 ms) / 3 = 1.3472 days
    assertEquals(1.3472, f.get("terminal_label_lag_days"));
  }

  @Test
  void paymentsAfterTheNewestKnownFraudsDayDoNotDiluteTheRate() {
    Behaviour.Terminal merchant = new Behaviour.Terminal();
    for (int back = 1; back <= 10; back++) {
      for (int i = 0; i < 4; i++) {     // four payments a day on days D-10 to D-1
        merchant.add(D - back * DAY + i, 30);
      }
    }
    merchant.label("a", true, D - 7 * DAY + 6 * HOUR, D - DAY, 30);
    merchant.label("b", true, D - 6 * DAY, D - DAY, 30);
    Map<String, Object> f = Behaviour.terminalFeatures(merchant, D, behaviour());
    assertEquals(20L, f.get("terminal_payments"));    // days D-10 to D-6, not D-5 to D-1
    assertEquals(0.1, f.get("terminal_fraud_rate"));
    assertEquals(6L, f.get("terminal_days_since_fraud"));
    assertEquals(5.375, f.get("terminal_label_lag_days"));  // (5.75 + 5) / 2
  }

  @Test
  void aFraudLabelForAPaymentTheTerminalNeverCountedGivesARateOfZeroNotNull() {
    Behaviour.Terminal merchant = new Behaviour.Terminal();
    merchant.label("unseen", true, D - 3 * DAY, D - DAY, 30);
    Map<String, Object> f = Behaviour.terminalFeatures(merchant, D, behaviour());
    assertEquals(1L, f.get("terminal_frauds"));
    assertEquals(0.0, f.get("terminal_fraud_rate"));
  }

  @Test
  void aTerminalsStateKeepsTheFraudsEventTimeThroughItsJsonRoundTrip() {
    Behaviour.Terminal merchant = new Behaviour.Terminal();
    merchant.add(D - 2 * DAY, 30);
    merchant.label("a", true, D - 2 * DAY + HOUR, D - DAY, 30);
    Behaviour.Terminal back = Behaviour.Terminal.decode(merchant.encode());
    assertEquals(Behaviour.terminalFeatures(merchant, D, behaviour()),
        Behaviour.terminalFeatures(back, D, behaviour()));
    // A state written before the event time was kept decodes with the event day's start.
    Behaviour.Terminal old = Behaviour.Terminal.decode(
        "[[[" + (D / DAY - 2) + ",1]],{\"a\":[" + (D / DAY - 2) + "," + (D - DAY) + "]}]");
    assertEquals(1.0, Behaviour.terminalFeatures(old, D, behaviour())
        .get("terminal_label_lag_days"));
  }

  // risky_terminal: at least 3 known frauds making at least 0.06 of the payments they cover,
  // the newest at most the labels' mean lag plus 1 day old.

  @Test
  void threeFraudsAtExactlyTheMinimumRateMakeARiskyTerminal() {
    Map<String, Object> details = new LinkedHashMap<>();
    details.put("terminal_fraud_rate", 0.06);
    details.put("terminal_frauds", 3L);
    details.put("terminal_payments", 50L);
    details.put("days_since_fraud", 2L);
    details.put("label_lag_days", 1.5);
    details.put("window_days", 14L);
    assertEquals(details,
        Behaviour.riskyTerminal(terminalFeatures(3, 50, 2L, 1.5), RISKY_TERMINAL));
  }

  @Test
  void twoFraudsOrARateJustBelowTheMinimumIsNotRisky() {
    assertNull(Behaviour.riskyTerminal(terminalFeatures(2, 2, 1L, 1.0), RISKY_TERMINAL));
    assertNull(Behaviour.riskyTerminal(terminalFeatures(3, 51, 1L, 1.0), RISKY_TERMINAL));
    assertNull(Behaviour.riskyTerminal(terminalFeatures(0, 0, null, null), RISKY_TERMINAL));
  }

  @Test
  void aTerminalFadesOnceItsNewestFraudIsOlderThanTheLabelsLagPlusFadeDays() {
    assertNotNull(Behaviour.riskyTerminal(terminalFeatures(5, 10, 4L, 3.0), RISKY_TERMINAL));
    assertNull(Behaviour.riskyTerminal(terminalFeatures(5, 10, 5L, 3.0), RISKY_TERMINAL));
    assertNotNull(Behaviour.riskyTerminal(terminalFeatures(5, 10, 5L, 4.0), RISKY_TERMINAL));
  }
}

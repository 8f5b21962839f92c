// A small fixed-layout chart in cairo: axes box, "nice" ticks (1/2/5 steps, integer epochs past
// one), two polylines (solid train, dash-dot val), legend upper right, tokens axis on top.
#include "io/plot.hpp"

#include <cairo-pdf.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.hpp"

namespace instruct {

namespace fs = std::filesystem;

namespace {

constexpr double kW = 500, kH = 300;  // logical units (5 x 3 inches at 100 per inch)
constexpr double kLeft = 62, kRight = 14, kTop = 48, kBottom = 44;

double nice_step(double span, int target, bool integer) {
  if (!(span > 0)) return 1;
  const double raw = span / target;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  double step = p;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (p * m >= raw) {
      step = p * m;
      break;
    }
  if (integer) step = std::max(1.0, std::round(step));
  return step;
}

std::vector<double> ticks(double lo, double hi, double step) {
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

std::string label(double v, double step) {
  char buf[32];
  const double a = std::fabs(v);
  if (a >= 1e6 && step >= 1e5)
    std::snprintf(buf, sizeof buf, "%gM", v / 1e6);
  else if (a >= 1e4 && step >= 1e3)
    std::snprintf(buf, sizeof buf, "%gk", v / 1e3);
  else if (step >= 1)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else {
    const int dec = std::min(6, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    std::snprintf(buf, sizeof buf, "%.*f", dec, v);
  }
  return buf;
}

void text(cairo_t* cr, const std::string& s, double x, double y, double ax, double ay,
          double angle = 0) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  cairo_move_to(cr, -e.x_bearing - e.width * ax, -e.y_bearing - e.height * ay);
  cairo_show_text(cr, s.c_str());
  cairo_restore(cr);
}

void draw(cairo_t* cr, const LossCurves& c) {
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, 11);

  double x0 = kLeft;  // widened below when the loss labels are long ("0.00015")
  const double x1 = kW - kRight, y0 = kTop, y1 = kH - kBottom;  // plot box
  double emin = c.epochs.front(), emax = c.epochs.back();
  if (emax <= emin) emax = emin + 1;
  double lmin = 1e300, lmax = -1e300;
  for (const auto* v : {&c.train, &c.val})
    for (double l : *v)
      if (std::isfinite(l)) lmin = std::min(lmin, l), lmax = std::max(lmax, l);
  if (lmin > lmax) lmin = 0, lmax = 1;
  if (lmax - lmin < 1e-9) lmin -= 0.5, lmax += 0.5;
  const double pad_e = (emax - emin) * 0.05, pad_l = (lmax - lmin) * 0.05;
  const double xe0 = emin - pad_e, xe1 = emax + pad_e, yl0 = lmin - pad_l, yl1 = lmax + pad_l;
  const double ls = nice_step(yl1 - yl0, 5, false);
  double widest = 0;
  for (double l : ticks(yl0, yl1, ls)) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, label(l, ls).c_str(), &e);
    widest = std::max(widest, e.width);
  }
  x0 = std::max(x0, widest + 7 + 26);
  auto X = [&](double e) { return x0 + (e - xe0) / (xe1 - xe0) * (x1 - x0); };
  auto Y = [&](double l) { return y1 - (l - yl0) / (yl1 - yl0) * (y1 - y0); };

  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_line_width(cr, 0.8);
  cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
  cairo_stroke(cr);

  // bottom axis: epochs, integer ticks (the reference's MaxNLocator(integer=True)); a run shorter
  // than an epoch gets fractional ticks, or its axis would show a lone 0
  const double es = nice_step(xe1 - xe0, 6, emax - emin >= 1);
  for (double e : ticks(xe0, xe1, es)) {
    cairo_move_to(cr, X(e), y1), cairo_line_to(cr, X(e), y1 + 4), cairo_stroke(cr);
    text(cr, label(e, es), X(e), y1 + 7, 0.5, 0);
  }
  text(cr, "Epochs", (x0 + x1) / 2, kH - 6, 0.5, 1);
  // left axis: loss; its label left of the widest tick label
  for (double l : ticks(yl0, yl1, ls)) {
    cairo_move_to(cr, x0 - 4, Y(l)), cairo_line_to(cr, x0, Y(l)), cairo_stroke(cr);
    text(cr, label(l, ls), x0 - 7, Y(l), 1, 0.5);
  }
  text(cr, c.y_label.c_str(), x0 - 7 - widest - 12, (y0 + y1) / 2, 0.5, 0.5, -M_PI / 2);
  // top axis: tokens seen, mapped so each evaluation sits at the same x on both axes
  const double t0 = c.tokens.front(), t1 = c.tokens.back();
  if (t1 > t0 && c.epochs.back() > c.epochs.front()) {
    auto E = [&](double t) {
      return c.epochs.front() + (t - t0) / (t1 - t0) * (c.epochs.back() - c.epochs.front());
    };
    auto T = [&](double e) {
      return t0 + (e - c.epochs.front()) / (c.epochs.back() - c.epochs.front()) * (t1 - t0);
    };
    const double ts = nice_step(T(xe1) - T(xe0), 5, true);
    for (double t : ticks(T(xe0), T(xe1), ts)) {
      cairo_move_to(cr, X(E(t)), y0 - 4), cairo_line_to(cr, X(E(t)), y0), cairo_stroke(cr);
      text(cr, label(t, ts), X(E(t)), y0 - 7, 0.5, 1);
    }
  }
  text(cr, "Tokens seen", (x0 + x1) / 2, 6, 0.5, 0);

  // curves, clipped to the box
  cairo_save(cr);
  cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
  cairo_clip(cr);
  auto curve = [&](const std::vector<double>& v, double r, double g, double b, bool dashdot) {
    cairo_set_source_rgb(cr, r, g, b);
    cairo_set_line_width(cr, 1.5);
    const double dd[] = {6, 2.5, 1.5, 2.5};
    cairo_set_dash(cr, dashdot ? dd : nullptr, dashdot ? 4 : 0, 0);
    bool pen = false;
    for (size_t i = 0; i < v.size(); i++) {
      if (!std::isfinite(v[i])) {
        pen = false;
        continue;
      }
      if (pen)
        cairo_line_to(cr, X(c.epochs[i]), Y(v[i]));
      else
        cairo_move_to(cr, X(c.epochs[i]), Y(v[i]));
      pen = true;
    }
    if (v.size() == 1) cairo_arc(cr, X(c.epochs[0]), Y(v[0]), 2, 0, 2 * M_PI);
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
  };
  curve(c.train, 0.122, 0.467, 0.706, false);  // matplotlib C0
  curve(c.val, 1.0, 0.498, 0.055, true);       // matplotlib C1
  cairo_restore(cr);

  // legend, upper right
  double text_w = 0;  // the box fits the longer label
  for (const std::string* t : {&c.train_label, &c.val_label}) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, t->c_str(), &e);
    text_w = std::max(text_w, e.x_advance);
  }
  const double lw = std::max(150.0, text_w + 50), lh = 40, lx = x1 - lw - 8, ly = y0 + 8;
  cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
  cairo_rectangle(cr, lx, ly, lw, lh);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
  cairo_set_line_width(cr, 0.8);
  cairo_stroke(cr);
  const char* names[] = {c.train_label.c_str(), c.val_label.c_str()};
  for (int k = 0; k < 2; k++) {
    const double yy = ly + 12 + 16 * k;
    k ? cairo_set_source_rgb(cr, 1.0, 0.498, 0.055) : cairo_set_source_rgb(cr, 0.122, 0.467, 0.706);
    const double dd[] = {6, 2.5, 1.5, 2.5};
    cairo_set_dash(cr, k ? dd : nullptr, k ? 4 : 0, 0);
    cairo_set_line_width(cr, 1.5);
    cairo_move_to(cr, lx + 8, yy), cairo_line_to(cr, lx + 36, yy), cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, names[k], lx + 44, yy, 0, 0.5);
  }
}

}  // namespace

void plot_losses(const fs::path& path, const LossCurves& c, const std::string& format) {
  if (c.epochs.empty() || c.epochs.size() != c.train.size() || c.val.size() != c.train.size() ||
      c.tokens.size() != c.train.size())
    fail(path.string(), ": no evaluations to plot; use --eval-freq with at least one evaluation");
  if (format != "png" && format != "pdf")
    fail("--plot-format ", format, " is unknown; use png or pdf");
  fs::path tmp = path;
  tmp += ".tmp";
  cairo_surface_t* s =
      format == "png" ? cairo_image_surface_create(CAIRO_FORMAT_ARGB32, int(kW * 2), int(kH * 2))
                      : cairo_pdf_surface_create(tmp.c_str(), kW * 0.72, kH * 0.72);
  cairo_t* cr = cairo_create(s);
  cairo_scale(cr, format == "png" ? 2.0 : 0.72, format == "png" ? 2.0 : 0.72);
  draw(cr, c);
  cairo_destroy(cr);
  cairo_status_t st = CAIRO_STATUS_SUCCESS;
  if (format == "png") st = cairo_surface_write_to_png(s, tmp.c_str());
  cairo_surface_finish(s);
  if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(s);
  cairo_surface_destroy(s);
  if (st != CAIRO_STATUS_SUCCESS) {
    std::error_code ec;
    fs::remove(tmp, ec);
    fail(path.string(), ": cannot write the plot (", cairo_status_to_string(st),
         "); check the directory");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) fail(path.string(), ": cannot write the plot (", ec.message(), ")");
}

}  // namespace instruct

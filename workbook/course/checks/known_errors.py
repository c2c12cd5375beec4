"""What common errors mean, in words: autograd and hook errors, and the plain Python/PyTorch slips a learner
makes whatever the exercise (a tensor's truth value, the built-in sum with dim=, a dtype mix, an axis past the
end after a reduction, ...). :func:`known_error` matches the error's message together with the learner's line.
"""

from __future__ import annotations

import re

__all__ = ["KNOWN_ERRORS", "known_error"]


#: (pattern in the error message or the learner's line, what it means) for errors autograd and hooks raise
KNOWN_ERRORS = (
    (r"does not require grad and does not have a grad_fn",
     "nothing you differentiate depends on a tensor that requires grad: the metric was computed under "
     "torch.no_grad(), from detached activations, or the leaf you differentiate by (an interpolated embedding, a "
     "cached activation) was not made with .requires_grad_(True) or never entered the run (patch it in with a "
     "hook that returns it, so the forward pass goes through it). A hook that returns a detached tensor cuts the "
     "graph too: a straight-through hook returns t + (target - t).detach(), whose t + keeps the gradient."),
    (r"backward through the graph a second time",
     "a second backward through the same graph: run a fresh forward pass for each backward, or keep the graph "
     "with retain_graph=True where you reuse it on purpose."),
    (r"leaf Variable that requires grad is being used in an in-place",
     "you edited a tensor that requires grad in place (a parameter or the leaf you differentiate by): clone it "
     "first, or edit under torch.no_grad()."),
    (r"modified by an inplace operation",
     "an activation that autograd still needs was edited in place (in a hook?): edit a copy and return it "
     "(act = act.clone(); act[...] = ...; return act)."),
    (r"Backward hook for Modules where no input requires gradient should always return None",
     "a function registered as a BACKWARD hook returned a tensor: a forward hook (fwd_hooks / extra_fwd_hooks) "
     "replaces an activation in the forward pass; a backward hook (bwd_hooks) sees gradients and may only return "
     "a replacement gradient. A straight-through or patching hook is a forward hook."),
    (r"only integer tensors of a single element can be converted to an index",
     "a float tensor used as an index: torch.topk and torch.sort return (values, indices); index with .indices "
     "(or [1]), not the values."),
    (r"grad can be implicitly created only for scalar outputs",
     "backward() on a tensor with more than one value: reduce the metric to one number first (task.metric_value "
     "averages over the batch), or give torch.autograd.grad its grad_outputs."),
    (r"Can't call numpy\(\) on Tensor that requires grad",
     "a tensor that requires grad was turned into numbers: .detach() it first (and compute scores under "
     "torch.no_grad())."),
    # plain Python and PyTorch slips, whatever the exercise
    (r"'(dim|axis|keepdim)' is an invalid keyword argument for (sum|max|min|any|all)\(\)",
     "Python's built-in sum() (or max/min/any/all) was called on tensors: it takes no dim. Reduce with the tensor's "
     "own method, (x).sum(dim=...), or torch.sum(x, dim=...)."),
    (r"'(Tensor|torch\.Size|int|float|list|tuple|dict)' object is not callable",
     "a value was called like a function: an attribute that holds a tensor, a size or a number (.shape, .T, a "
     "graph's .edge_mask, cfg.n_heads) is read without parentheses; or a name that held a function was assigned a "
     "tensor earlier."),
    (r"(?i)(expected scalar type|same dtypes?,? but got:?|dtypes match, got) ?(float|double|half|bfloat16)\w* "
     r"(!=|but found|for the destination and|and) (float|double|half|bfloat16)",
     "two tensors of different dtypes met: the model's float32 and a float64 one (.double(), dtype=torch.float64, "
     "or a tensor made from numpy). Keep the model's dtype: drop the cast, or convert with .to(x.dtype)."),
    (r"Boolean value of Tensor with more than one value is ambiguous",
     "a tensor with several values was asked for one True/False: `a or b` / `a and b` / `if t:` / `not t` on a "
     "tensor. To fall back when a value is missing write `b if a is None else a` (or dict.get(key, default)); to "
     "test every value use .any() or .all(); to choose per element, torch.where."),
    (r"got multiple values for argument",
     "a function received one argument twice: functools.partial(f, a, b) binds a and b to f's FIRST parameters, so "
     "the arguments a hook is called with (the activation, the hook) arrive a second time. Bind by keyword, "
     "partial(f, layer=l, head=h), or write lambda act, hook: f(act, hook, l, h)."),
    (r"(too many|not enough) values to unpack \(expected 2.*(hooks|fwd|bwd)",
     "a hook list is not a flat list of (name, function) pairs: a list was .append()ed into it as one element "
     "(use .extend() or +=), or a name or a function stands alone."),
    (r"'(int|float|bool)' object is not subscriptable",
     "a name indexed on this line holds a number, not the dict, list or tensor it held before: it was "
     "assigned again (a loop variable or a result with the same name?), or a function returned a number."),
    (r"~ \(operator\.invert\) is only implemented on integer and Boolean",
     "`~` inverts a boolean mask, and this mask holds numbers (torch.tril(torch.ones(...)) gives floats): build it "
     "as booleans (dtype=torch.bool, or a comparison such as mask > 0), or use 1 - mask for a 0/1 float mask."),
    (r"appears to not have been used in the graph",
     "the tensor you differentiate by never entered the run that computed the metric: the hook that should put it "
     "in reads another tensor (a variable bound when the hook was made, or one from an earlier step), is not "
     "registered for that run, or the run used a copy of it."),
    (r"Dimension out of range \(expected to be in range of \[-\d+, \d+\], but got -?\d+\)",
     "an axis number past the tensor's last axis: each reduction without keepdim removes an axis, so the axes after "
     "it move down by one. Renumber them, or reduce them all at once with a tuple, x.sum((1, 3))."),
    (r"expected Tensor as element \d+ in argument \d+, but got (float|int)",
     "torch.stack and torch.cat join tensors, and this list holds Python numbers (made by .item() or float()): "
     "build the tensor with torch.tensor(the list), or keep the values as tensors."),
    (r"argument 'keepdim' \(position 2\) must be bool",
     "several axes go in one tuple, x.sum((1, 3)): a second number is read as keepdim."),
    (r"must be tuple of Tensors, not generator",
     "torch.stack and torch.cat take a list or tuple: write the comprehension in square brackets, [... for ...]."),
    (r"a Tensor with \d+ elements cannot be converted to Scalar|only one element tensors can be converted",
     ".item() (or float()) on a tensor with several values: only a one-element tensor is one number. Keep the "
     "tensor (write it into a slice of the result) or reduce it first."),
    (r"cannot access local variable '\w+' where it is not associated with a value|referenced before assignment",
     "a variable read before the line that assigns it runs: a loop's variable read before (or outside) its loop, "
     "or a name assigned only in one branch. Move the line after the assignment, inside the loop."),
    (r"unsupported operand type\(s\) for [-+*/]+: 'dict' and 'dict'",
     "arithmetic on two dicts (activation caches): combine them entry by entry, {n: a[n] - b[n] for n in names}, "
     "or stack each into one tensor first."),
    (r"'torch\.return_types\.(max|min|sort|topk|median|mode)'",
     "x.max(dim) (and min, sort, topk, median with an axis) returns a pair (values, indices): take .values."),
    (r"'(float|int)' object has no attribute 'item'",
     "the value is already a Python number: .item() belongs to a one-element tensor; drop it."),
    (r"'(builtin_function_or_method|method)' object (does not support item assignment|is not subscriptable|has no "
     r"attribute)",
     "a method used without its call: `x.clone` (or .detach, .sum, ...) is the method itself, not its result; "
     "call it, x.clone()."),
    (r"'type' object does not support the context manager protocol|'type' object has no attribute '__enter__'",
     "a context manager's class used without its call: `with torch.enable_grad:` (or no_grad, inference_mode) names "
     "the class; call it, `with torch.enable_grad():`, with the parentheses."),
    (r"Subtraction, the `-` operator, with a bool tensor is not supported",
     "a boolean mask is inverted with ~mask (or mask.logical_not()); 1 - mask works only on a 0/1 float mask."),
    (r"hook '.*' has changed the size of value",
     "a hook must hand back a tensor of the shape it was given (or None to leave it): zeros are torch.zeros_like(g), "
     "not a single torch.tensor(0.)."),
    (r'"bitwise_(and|or|xor)_cpu" not implemented for \'(Float|Double|Half|BFloat16)\'',
     "& and | combine booleans or integers: to keep values where a 0/1 float mask is 1, multiply (x * mask), or "
     "use torch.where(mask.bool(), x, 0)."),
    (r"linspace only supports 0-dimensional start and end tensors",
     "torch.linspace spaces numbers, not tensors: take the weights alpha = torch.linspace(0, 1, m + 1) and form "
     "each point as start + alpha[k] * (end - start)."),
    (r"upper bound and lower bound inconsistent with step sign|arange.*step must be nonzero",
     "torch.arange(start, end, step)'s third argument is the spacing between values, not their number: for m points "
     "use torch.linspace(start, end, m), or torch.arange(1, m + 1) / m for k/m with k = 1..m."),
    (r"One of the differentiated Tensors does not require grad",
     "torch.autograd.grad(output, inputs) differentiates with respect to its second argument, which must be a tensor "
     "the output was computed from with requires_grad=True (the leaf you built the run on), not a fixed target "
     "(a detached tensor, such as the corrupt logits)."),
    (r"'float' object is not iterable.*(autograd\.grad|backward)|'float' object has no attribute 'backward'",
     "the value you differentiate is a Python number: .item() or float() cut it from the graph. Keep it a tensor "
     "until after the gradient."),
)


def known_error(err: BaseException, line: str | None = "") -> str | None:
    """What a common autograd/hook error means, in words (None when it is not one of :data:`KNOWN_ERRORS`)."""
    text = f"{err} {line or ''}"
    for pattern, meaning in KNOWN_ERRORS:
        if re.search(pattern, text):
            return meaning
    if isinstance(err, AttributeError) and "NoneType" in str(err) and ".grad" in (line or ""):
        return ("a .grad that is None: only leaf tensors created with requires_grad=True get .grad after "
                "backward() (call .retain_grad() on an intermediate tensor, or use torch.autograd.grad).")
    return None

"""Jinja2 server-side template injection payloads, adapted from the public lists in
PayloadsAllTheThings ("Server Side Template Injection/Python.md", Jinja2 section) and HackTricks
("SSTI (Server Side Template Injection)/Jinja2 SSTI"), plus variations on promptlib's own globals.

Each must fail with a PromptError when rendered, and ESCAPE_PAYLOADS must already be refused at save.
`x` (a string), `items` (a list) and `data` (an object) are declared.
"""

ESCAPE_PAYLOADS = [
    # Walking from a literal to object.__subclasses__()
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__mro__[2].__subclasses__()[40]('/etc/passwd').read() }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ x.__class__.mro()[-1].__subclasses__() }}",
    "{{ dict.__base__.__subclasses__() }}",
    "{{ dict.mro()[-1].__subclasses__() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{% if c.__name__ == 'Popen' %}"
    "{{ c('id', shell=True, stdout=-1).communicate() }}{% endif %}{% endfor %}",
    # |attr and item access instead of dots
    "{{ x|attr('__class__') }}",
    "{{ (x|attr('__class__')|attr('__mro__'))[-1] }}",
    "{{ x|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ ((''|attr('__class__')|attr('__mro__'))[-1]|attr('__subclasses__'))() }}",
    "{{ x['__class__'] }}",
    "{{ data['__class__']['__mro__'] }}",
    "{{ items|map(attribute='__class__')|list }}",
    "{{ (dict|attr('\\x5f\\x5fmro\\x5f\\x5f'))[-1] }}",
    # Reaching builtins through functions' globals
    "{{ range.__globals__ }}",
    "{{ range.__globals__['__builtins__']['__import__']('os').popen('id').read() }}",
    "{{ namespace.__init__.__globals__['os'].popen('id').read() }}",
    "{{ dict.__init__.__globals__ }}",
    "{{ x.upper.__self__.__class__ }}",
    "{{ range.__call__.__globals__ }}",
    # Jinja's own helpers, which promptlib does not offer
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ lipsum.__globals__.__builtins__.__import__('os').popen('cat /etc/passwd').read() }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    "{{ self }}",
    # Flask globals: absent here
    "{{ config.__class__.__init__.__globals__['os'].popen('id').read() }}",
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "{{ config.items() }}",
    "{{ get_flashed_messages.__globals__.__builtins__ }}",
    "{{ url_for.__globals__['os'] }}",
    # Format-string tricks
    "{{ '{0.__class__}'.format(x) }}",
    "{{ '{0.__class__.__mro__}'.format(items) }}",
    "{{ '{0[__class__]}'.format(data) }}",
    "{{ '{a.__class__}'.format_map({'a': x}) }}",
    "{{ '%s'|format(x.__class__) }}",
    "{{ '%s' % x.__class__ }}",
    # Namespace and loop internals
    "{% set ns = namespace() %}{{ ns._Namespace__attrs }}",
    "{% set ns = namespace() %}{{ ns.__class__.__init__.__globals__ }}",
    "{% for i in items %}{{ loop.__class__.__init__.__globals__ }}{% endfor %}",
    "{% macro m() %}{% endmacro %}{{ m.__class__ }}",
    "{% macro m() %}{% endmacro %}{{ m._environment }}",
    # Loading other templates
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}{{ os }}",
    "{% from 'os' import popen %}",
    "{% extends '/etc/passwd' %}",
    "{{ items.__setitem__(0, 1) }}",
]

# Mutating values: only the (immutable) sandbox stops these, at render time.
MUTATION_PAYLOADS = [
    "{% set l = [1] %}{{ l.append(2) }}",
    "{% set d = {} %}{{ d.update(a=1) }}",
    "{{ items.pop() }}",
    "{{ items.sort() }}",
    "{{ data.clear() }}",
    "{{ data.setdefault('a', 1) }}",
    "{% set x.a = 1 %}",
]

# Words that must never appear in what an escape attempt returns or reports.
LEAK_MARKERS = ("<class", "subprocess", "Popen", "os.", "posix", "root:", "__builtins__", "<module", "<function")

# One C call that runs for seconds on a small value (issue 10): punycode is quadratic, idna uses it.
PUNYCODE_BOMB = "{{ ('{:c}' * 8000).format(*range(19968, 27968)).encode('punycode')|length }}"
IDNA_BOMB = "{{ ('{:c}' * 8000).format(*range(19968, 27968)).encode('idna')|length }}"

# Nesting that made Jinja's parser or Python's compiler give up (RecursionError, "too many
# statically nested blocks", "too many levels of indentation"): each must be a clear error naming
# the section, never a 500.
DEEP_NESTING = {
    "100 nested parentheses": "{{ " + "(" * 100 + "1" + ")" * 100 + " }}",
    "21 nested for loops": "{% for i in range(1) %}" * 21 + "x" + "{% endfor %}" * 21,
    "100 nested ifs": "{% if true %}" * 100 + "x" + "{% endif %}" * 100,
    "100 nested lists": "{{ " + "[" * 100 + "]" * 100 + " }}",
    "100 nested set blocks": "{% set s %}" * 100 + "x" + "{% endset %}" * 100,
    "5,000 chained filters": "{{ 'a'" + "|upper" * 5000 + " }}",
    "5,000 nots": "{{ " + "not " * 5000 + "true }}",
}
